import logging, time, itertools
import numpy as np
from commst.priors import build_ligand_target, load_networks, load_lr_resource
lr = load_lr_resource("consensus", "human")
nets = load_networks("human", lr=lr, lr_name="consensus")
# validation pairs (textbook ligand -> early response genes), disjoint from the evaluation pairs
val = {"IL6": ["SOCS3", "JUNB", "BCL3"], "EGF": ["FOS", "EGR1", "DUSP6"], "IL4": ["SOCS1", "CISH", "CCL26"],
       "BMP4": ["ID1", "ID2", "ID3"], "WNT3A": ["AXIN2", "LEF1", "NKD1"], "IL1B": ["IL6", "CCL20", "NFKBIZ"],
       "DLL1": ["HES1", "HEY1", "HES5"], "IFNA1": ["ISG15", "MX1", "IFIT1"], "IL10": ["SOCS3", "IL1RN"], "PDGFB": ["FOS", "MYC", "EGR1"]}
test = {"TGFB1": ["SERPINE1","COL1A1","CCN2"], "IFNG": ["CXCL9","CXCL10","IRF1","STAT1"], "TNF": ["NFKBIA","TNFAIP3","CXCL8"]}
def ev(params, pairs):
    m = build_ligand_target("human", lr=lr, ligands=list(pairs), params=params, networks=nets)
    pct = [m.percentile_rank(l,t) if (l in m.ligands and t in m.targets) else 0 for l,ts in pairs.items() for t in ts]
    ranks=[]
    for l, ts in pairs.items():
        if l not in m.ligands: ranks += [len(m.targets)]*len(ts); continue
        col = m.matrix[:, m.ligands.index(l)].toarray().ravel()
        order = np.argsort(-col); pos = {m.targets[i]: r + 1 for r, i in enumerate(order)}
        ranks += [pos.get(t, len(m.targets)) for t in ts]
    return np.median(ranks), np.mean(pct), min(pct)
res=[]
for lh, gh, d, c in itertools.product([0, 0.25, 0.5, 1], [0, 0.25, 0.5, 1], [0.5, 0.8], [0.99, 0.95]):
    p={"lr_sig_hub": lh, "gr_hub": gh, "damping_factor": d, "ltf_cutoff": c}
    v = ev(p, val); t = ev(p, test)
    res.append((v[0], p, v, t))
res.sort(key=lambda x: x[0])
for r in res[:8] + res[-3:]:
    print(r[1], "VAL median rank %.0f mean pct %.1f min %.1f" % r[2], "| TEST median rank %.0f mean pct %.1f min %.1f" % r[3])
print("default", ev({}, val), ev({}, test))
