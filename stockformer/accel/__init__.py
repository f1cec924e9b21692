"""Optional CPU kernels (numba) for training: whole sub-modules of the plain-PyTorch model
swapped for versions with fused CPU passes, same parameters and state-dict keys, behind one
switch (`train.cpu_kernels: auto|off`)."""

from stockformer.accel.swap import accelerate, for_training, to_plain, use_cpu_kernels

__all__ = ["accelerate", "for_training", "to_plain", "use_cpu_kernels"]
