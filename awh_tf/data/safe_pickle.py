"""A restricted unpickler for dataset annotation files (RHD's ``anno_*.pickle``).

Unpickling runs whatever callables the file names, so a plain `pickle.load` of a downloaded file can
execute arbitrary code. `load_numpy_pickle` admits only the globals a pickle of dicts, lists and numpy
arrays needs and refuses any other global *before* it is imported or called.

Admitted globals (module, name) — everything else raises `DataError`:
  numpy.core.multiarray._reconstruct / numpy._core.multiarray._reconstruct  (ndarray pickles)
  numpy.ndarray, numpy.dtype                                                  (their arguments)
  numpy.core.multiarray.scalar / numpy._core.multiarray.scalar               (numpy scalars)
  numpy.core.numeric._frombuffer / numpy._core.numeric._frombuffer           (ndarrays, protocol 5)
  _codecs.encode                                        (bytes in a protocol-2 pickle from Python 3)
Containers (dict, list, tuple), str, int and float are pickle opcodes, not globals, so they need no
admission. The last two are not numpy but are how current Python writes the same arrays: numpy's
protocol-5 reduction calls ``_frombuffer`` (a wrapper of `numpy.frombuffer`), and Python 3 writes a
bytes object under protocol 2 as ``_codecs.encode(text, "latin1")``. Neither can run code.
"""

from __future__ import annotations

import codecs
import os
import pickle

import numpy as np

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # numpy 1.x
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric

from awh_tf.data.errors import DataError

# Resolved here, never through `find_class`'s import machinery: the file cannot make us import
# anything, and the deprecated `numpy.core` alias is never touched.
_ALLOWED = {}
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_module, "_reconstruct")] = _multiarray._reconstruct
    _ALLOWED[(_module, "scalar")] = _multiarray.scalar
for _module in ("numpy.core.numeric", "numpy._core.numeric"):
    _ALLOWED[(_module, "_frombuffer")] = _numeric._frombuffer
_ALLOWED[("_codecs", "encode")] = codecs.encode
_ALLOWED[("numpy", "ndarray")] = np.ndarray
_ALLOWED[("numpy", "dtype")] = np.dtype


class _RestrictedUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` whose `find_class` only hands out the numpy callables in `_ALLOWED`."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed") from None


def load_numpy_pickle(path: str | os.PathLike):
    """Loads a pickle of containers and numpy arrays, refusing every other global.

    Python 2 pickles (the published RHD files) load too: their byte strings are decoded as latin-1,
    which is what numpy needs to rebuild arrays written by Python 2.

    Args:
      path: the pickle file.
    Returns:
      The unpickled object.
    Raises:
      DataError: the file is missing, truncated, not a pickle, or names a global not admitted.
    """
    try:
        with open(path, "rb") as f:
            return _RestrictedUnpickler(f, encoding="latin1").load()
    except FileNotFoundError:
        raise DataError.at(path, "annotation pickle not found") from None
    except pickle.UnpicklingError as e:
        raise DataError.at(path, f"refused to unpickle: {e}") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
        raise DataError.at(path, f"not a readable pickle ({type(e).__name__}: {e})") from None
