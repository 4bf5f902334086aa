"""Names CommST reads and writes on AnnData objects, and the LR complex separator.

One place per key: code uses ``Keys.layers.counts`` rather than the string ``"counts"``, so a
key is defined once and every reader and writer agrees (as squidpy's ``Key`` and liana's
``_constants`` do). The output contract in the README lists the same names.
"""

from __future__ import annotations

from collections.abc import Iterable


class Keys:
    """AnnData keys of prepared data and of the imputed output."""

    class layers:  # noqa: N801 - namespaces read like the AnnData attributes they name
        """``adata.layers`` keys."""

        counts = "counts"
        """Raw counts (prepared data; the readers put them in ``X`` first)."""
        imputed_counts = "imputed_counts"
        """Expected counts at each spot's depth (imputed output)."""
        observed = "observed"
        """The spatial data's own log-normalised value where it measured the gene, else 0."""
        uncertainty = "uncertainty"
        """Standard deviation of ``X`` (log-normalised scale) of the imputed value (imputed output)."""
        guarded = "guarded"
        """1 where the method flags the value as (likely) zero: commst's predictive P(0) >= guard_p."""
        expected_lognorm = "expected_lognorm"
        """commst: ``E[log1p(Y / library × target_sum)]``, what a measured log-normalised value would show."""
        lo = "lo"
        """commst: lower end of the central predictive interval (counts)."""
        hi = "hi"
        """commst: upper end of the central predictive interval (counts)."""
        p_zero = "p_zero"
        """commst: predictive probability of no count at the spot's depth."""

    class obs:  # noqa: N801
        """``adata.obs`` columns."""

        cell_type = "cell_type"
        """Reference cell-type labels (copied from the sheet's ``cell_type_key``)."""
        matched_cell_type = "matched_cell_type"
        """A spot's label: the dominant cell type of its matched reference cells (not a deconvolution)."""
        total_counts = "total_counts"
        """Library size (sum of raw counts) per observation."""

    class obsm:  # noqa: N801
        """``adata.obsm`` keys."""

        spatial = "spatial"
        """Spot coordinates (n × 2)."""

    class obsp:  # noqa: N801
        """``adata.obsp`` keys."""

        spatial_connectivities = "spatial_connectivities"
        """The spatial neighbour graph of the CCC steps (LIANA's and squidpy's key)."""

    class var:  # noqa: N801
        """``adata.var`` flags."""

        is_ligand = "is_ligand"
        is_receptor = "is_receptor"
        is_lr_target = "is_lr_target"
        is_input = "is_input"
        in_reference = "in_reference"
        measured_in_spatial = "measured_in_spatial"
        reliability = "reliability"
        """commst: agreement (PCC) of a target's predictions across the masked rounds."""

    class uns:  # noqa: N801
        """``adata.uns`` keys."""

        commst = "commst"
        """CommST's own entry: gene sets (prepared data), method, config and provenance (output)."""
        genes = "genes"
        """``uns['commst']['genes']``: the gene sets (:class:`commst.pp.GeneSets`)."""
        target_sum = "target_sum"
        """``uns['commst']['target_sum']``: library size of the log-normalisation of ``X``."""
        commst_input = "commst_input"
        """What the readers record about the input file (path, cell-type column)."""
        spatial = "spatial"
        """Squidpy/Space Ranger image data, kept when present."""
        genes_harmonised = "commst_genes_harmonised"
        """What :func:`commst.pp.harmonise_genes` renamed and merged (popped by :func:`commst.pp.prepare`)."""
        benchmark = "benchmark"
        """How a benchmark input was made (``split``, ``thinning``) or which method made an output."""
        scale = "commst_scale"
        """How a scale-benchmark pair was synthesised."""


#: Separator of the subunits of a protein complex in LR tables (``ITGA4_ITGB1``).
COMPLEX_SEP = "_"


def subunits(entity: object) -> list[str]:
    """The subunit genes of an LR table entry: ``"ITGA4_ITGB1"`` → ``["ITGA4", "ITGB1"]``.

    A single gene gives a list of one; empty parts (``"A__B"``) are dropped.
    """
    return [g for g in str(entity).split(COMPLEX_SEP) if g]


def entity_genes(entities: Iterable[object]) -> set[str]:
    """Every subunit gene of a column of LR entries (ligands or receptors)."""
    return {g for entity in entities for g in subunits(entity)}
