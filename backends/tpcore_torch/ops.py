"""The plan's primitive operations in torch (see :class:`tpcore.execute.ArrayOps`)."""

from __future__ import annotations

import numpy as np
import torch

from tpcore.execute import ArrayOps

DTYPES = {"float32": torch.float32, "float64": torch.float64}
COMPLEX = {torch.float32: torch.complex64, torch.float64: torch.complex128}


def torch_dtype(dtype) -> torch.dtype:
    """``torch.float32``/``torch.float64`` from a name, a numpy dtype or a torch dtype."""
    if isinstance(dtype, torch.dtype):
        if dtype in COMPLEX:
            return dtype
        name = str(dtype)
    else:
        name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    try:
        return DTYPES[name.rsplit(".", 1)[-1]]
    except KeyError:
        raise ValueError(f"dtype must be float32 or float64; got {dtype!r}") from None


class TorchOps(ArrayOps):
    """:class:`ArrayOps` over torch tensors.

    torch differs from numpy in two ways the plan relies on: ``einsum``/``@`` do not promote a real
    operand to complex (the gtp plans multiply real signals by complex Fourier matrices), and MKL's
    FFT rejects empty batches, so both are handled here.
    """

    def __init__(self):
        super().__init__(torch)

    def asarray(self, value: np.ndarray, dtype, device=None):
        dtype = torch_dtype(dtype)
        value = np.array(value)  # a writable copy: torch warns on read-only numpy buffers
        if value.dtype.kind in "iu":
            return torch.as_tensor(value, dtype=torch.long, device=device)
        if value.dtype.kind == "c":
            return torch.as_tensor(value, dtype=COMPLEX[dtype], device=device)
        return torch.as_tensor(value, dtype=dtype, device=device)

    def complex_dtype(self, dtype):
        return COMPLEX[torch_dtype(dtype)]

    def take(self, x, index):
        return x[..., index]

    def einsum(self, equation, *operands):
        return torch.einsum(equation, *_promote(operands))

    def matmul(self, x, matrix):
        x, matrix = _promote((x, matrix))
        return x @ matrix

    def zeros(self, like, n):
        return torch.zeros((like.shape[0], n), dtype=like.dtype, device=like.device)

    def concat(self, arrays):
        return torch.cat(list(arrays), dim=-1)

    def fft_conv2d(self, a, b, size):
        a, b = _promote((a, b))
        if a.numel() == 0 or b.numel() == 0:  # static under torch.compile: a shape check
            batch = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
            dtype = a.dtype if a.is_complex() else COMPLEX[a.dtype]
            return (a.sum() * b.sum()).to(dtype) * torch.zeros(batch + tuple(size), dtype=dtype, device=a.device)
        return torch.fft.ifft2(torch.fft.fft2(a, s=size) * torch.fft.fft2(b, s=size))

    def real(self, x):
        return torch.real(x)

    def rfft(self, x, n):
        if x.numel() == 0:  # MKL's FFT rejects empty batches
            return torch.zeros(x.shape[:-1] + (n // 2 + 1,), dtype=COMPLEX[x.dtype], device=x.device) + x.sum()
        return torch.fft.rfft(x, n=n, dim=-1)

    def irfft(self, x, n):
        if x.numel() == 0:
            return torch.zeros(x.shape[:-1] + (n,), dtype=x.real.dtype, device=x.device) + x.real.sum()
        return torch.fft.irfft(x, n=n, dim=-1)

    def weight_fold(self, w, index, target, value, shape):
        lead = w.shape[:-1]
        out = torch.zeros(lead + (int(np.prod(shape)),), dtype=w.dtype, device=w.device)
        return out.index_add(-1, target, w[..., index] * value).reshape(lead + tuple(shape))

    def segment_sum(self, x, index, n):
        return torch.zeros((x.shape[0], n), dtype=x.dtype, device=x.device).index_add(1, index, x)


def _promote(operands):
    """Cast real operands to the complex dtype when any operand is complex (numpy's promotion)."""
    complex_dtype = next((t.dtype for t in operands if t.is_complex()), None)
    if complex_dtype is None:
        return tuple(operands)
    return tuple(t if t.is_complex() else t.to(complex_dtype) for t in operands)
