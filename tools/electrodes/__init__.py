"""Insertion-electrode properties from composition: exact capacity, learned voltage and density.

Given the working ion and the charged and discharged formulas of an insertion electrode, the
gravimetric capacity follows from Faraday's law (`parsing`), the average voltage and the
density of the discharged structure (hence the volumetric capacity) are learned from the
Materials Project Battery Explorer table shipped in knowledge/electrodes (`model`, `cache`),
and a cross-validated comparison with simple baselines says how far to trust them (`cv`).
`snapshot` answers electrode searches from the same table when no Materials Project key is set.

Data: Materials Project Battery Explorer insertion electrodes (CC BY 4.0, K. Persson et al.,
"The Materials Project"); values are DFT (GGA/GGA+U) computed, not measured.
"""
