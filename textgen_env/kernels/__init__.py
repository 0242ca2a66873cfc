"""Incremental edit-distance kernels: one file per place they run.

Each kernel keeps, per episode, the dynamic-programming state of the distance
between the tokens generated so far and the target, and updates it once per
generated token (never recomputing over the whole prefix). All give the distance
``D[len(target)]`` and the best final distance still reachable, ``min_j D[j]``
(the dense reward's potential), and all are tested against rapidfuzz.

==================  ==================================  ===============================================
file                runs in                             state per episode
==================  ==================================  ===============================================
``bitrow.py``       the single env (``env.py``)         the DP column as Python-int bit vectors
``numpy_batch.py``  the vector env without numba        shifted DP rows, one numpy column per env
``numba_batch.py``  the vector env with numba (`fast`)  the bit column in uint64 words; the whole step
==================  ==================================  ===============================================

Levenshtein uses Hyyrö's global variant of Myers' bit-parallel algorithm (Myers
1999; Hyyrö 2001), Indel the LCS bit-vector of Allison-Dix / Hyyrö 2004; the
numpy rows use the textbook recurrence. Targets may hold negative ids (padding,
and target tokens that no action can produce): no generated token ever equals them.
"""
