"""Record JIDT KSG values with a Theiler window (DYN_CORR_EXCL) and the Euclidean norm (NORM_TYPE) into
tests/fixtures/jidt_options_reference.json. Run with a Python that has JPype and IDTxl (whose package
ships JIDT's infodynamics.jar) and a Java runtime:
    python scripts/record_jidt_options.py > tests/fixtures/jidt_options_reference.json
"""

import json

import jpype as jp
import numpy as np
from pkg_resources import resource_filename

jar = resource_filename("idtxl", "infodynamics.jar")
jp.startJVM(jp.getDefaultJVMPath(), "-ea", "-Djava.class.path=" + jar)
K = "infodynamics.measures.continuous.kraskov."


def arr2(a):
    return jp.JArray(jp.JDouble, 2)(np.asarray(a, float).tolist())


def arr1(a):
    return jp.JArray(jp.JDouble, 1)(np.asarray(a, float).tolist())


def calc(cls, props):
    c = jp.JClass(K + cls)()
    for key, val in {"NORMALISE": "false", "NOISE_LEVEL_TO_ADD": "0", "NUM_THREADS": "1", **props}.items():
        c.setProperty(key, str(val))
    return c


rng = np.random.default_rng(424242)
cases = []
n = 300
# autocorrelated pair (Theiler matters) and multi-column variables (norm matters)
e = rng.standard_normal((n, 5))
ar = np.zeros((n, 5))
for t in range(1, n):
    ar[t] = 0.9 * ar[t - 1] + e[t]
x2 = ar[:, :2]
y1 = 0.4 * ar[:, 0] + 0.3 * ar[:, 1] + 0.6 * rng.standard_normal(n)
y2 = np.c_[y1, ar[:, 2] + 0.5 * ar[:, 0]]
z2 = ar[:, 3:5] + 0.2 * ar[:, :2]
for alg in (1, 2):
    for theiler, norm in [(0, "EUCLIDEAN"), (5, "MAX_NORM"), (5, "EUCLIDEAN")]:
        props = {"k": 4, "DYN_CORR_EXCL": theiler, "NORM_TYPE": norm}
        c = calc(f"MutualInfoCalculatorMultiVariateKraskov{alg}", props)
        c.initialise(2, 2)
        c.setObservations(arr2(x2), arr2(y2))
        cases.append(
            {
                "measure": "mi",
                "algorithm": alg,
                "theiler": theiler,
                "norm": norm,
                "value": float(c.computeAverageLocalOfObservations()),
            }
        )
        c = calc(f"ConditionalMutualInfoCalculatorMultiVariateKraskov{alg}", props)
        c.initialise(2, 1, 2)
        c.setObservations(arr2(x2), arr2(y1[:, None]), arr2(z2))
        cases.append(
            {
                "measure": "cmi",
                "algorithm": alg,
                "theiler": theiler,
                "norm": norm,
                "value": float(c.computeAverageLocalOfObservations()),
            }
        )
    # TE with a window (1-D series: the norm does not matter)
    c = calc("TransferEntropyCalculatorKraskov", {"k": 4, "DYN_CORR_EXCL": 4, "ALG_NUM": alg, "k_HISTORY": 2})
    c.initialise()
    c.setObservations(arr1(ar[:, 0]), arr1(y1))
    cases.append(
        {
            "measure": "te",
            "algorithm": alg,
            "theiler": 4,
            "norm": "MAX_NORM",
            "k_history": 2,
            "value": float(c.computeAverageLocalOfObservations()),
        }
    )
ver = jp.JClass("java.lang.Package").getPackage("infodynamics.utils")
print(
    json.dumps(
        {
            "source": (
                "JIDT infodynamics.jar shipped with IDTxl 1.6 (d78480d), via JPype; "
                "NORMALISE=false, NOISE_LEVEL_TO_ADD=0, NUM_THREADS=1"
            ),
            "description": (
                "KSG values with a Theiler window (DYN_CORR_EXCL) and the Euclidean norm within variables "
                "(NORM_TYPE)"
            ),
            "inputs": {
                "seed": 424242,
                "x": x2.tolist(),
                "y1": y1.tolist(),
                "y2": y2.tolist(),
                "z": z2.tolist(),
                "source": ar[:, 0].tolist(),
            },
            "cases": cases,
        }
    )
)
