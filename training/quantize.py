"""Stand-in for pipeline/quantize.py at its old place, for one reader only:
training/detector/quantize_int8.py puts training/ on sys.path and imports `quantize`,
and a detector training run uses that file now, so it cannot be edited yet. Delete this
file once quantize_int8.py imports from training/pipeline/.
"""
import importlib.util
import os
import sys

_PIPELINE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pipeline")
if _PIPELINE not in sys.path:
    sys.path.append(_PIPELINE)  # pipeline/quantize.py imports its siblings (export, model, monitor)
_spec = importlib.util.spec_from_file_location("_pipeline_quantize", os.path.join(_PIPELINE, "quantize.py"))
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
globals().update({k: v for k, v in vars(_module).items() if not k.startswith("__")})
