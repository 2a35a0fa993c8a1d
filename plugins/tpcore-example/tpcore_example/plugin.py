"""The tpcore plugin: one backend ("example"), one implementation ("example/cgtp/einsum") and one kernel
("example/cgtp/convolution", for the descriptors it accepts)."""

from tpcore import hookimpl
from tpcore.harness import NumpyHarness
from tpcore.registry import Backend, Capabilities, Implementation


class ExampleHarness(NumpyHarness):
    """How generic code (conformance suite, benchmarks) drives the backend: numpy arrays, no gradients."""

    backend = "example"


def build_einsum(spec, *, device, dtype):
    from tpcore_example.einsum_tp import EinsumTensorProduct

    return EinsumTensorProduct(spec, dtype)


def build_convolution(spec, *, device, dtype):
    from tpcore_example.convolution import ConvolutionKernel

    return ConvolutionKernel(spec, dtype)


def build_message_passing(spec, *, device, dtype):
    from tpcore_example.convolution import KernelConvolution

    return KernelConvolution(spec, dtype)


def accepts_convolution(descriptor):
    from tpcore_example.convolution import accepts

    return accepts(descriptor)


@hookimpl
def tpcore_register_backends(register):
    register(
        Backend(
            name="example",
            probe=lambda: None,  # numpy is always there: always usable
            priority=500,  # after tpcore's own backends: never the default by accident
            default_dtype="float64",
            dtypes=("float32", "float64"),
            devices=("cpu",),
            description="tpcore-example: numpy arrays on the CPU, no gradients",
            harness=ExampleHarness,
        )
    )


@hookimpl
def tpcore_register_implementations(register):
    register(
        Implementation(
            backend="example",
            variant="cgtp",
            name="einsum",
            factory=build_einsum,
            capabilities=Capabilities(
                modes={"uvw", "uvu", "uuw", "uuu", "uvuv"},
                dtypes={"float32", "float64"},
                devices={"cpu"},
                grad_order=0,
                jit=False,
                per_sample_weights=True,
            ),
            description="one numpy einsum per path, from spec.paths and tpcore.so3.wigner_3j",
        )
    )
    register(
        Implementation(
            backend="example",
            variant="cgtp",
            name="convolution",
            factory=build_convolution,
            accepts=accepts_convolution,  # a kernel: only the descriptors it accepts
            convolution=build_message_passing,  # its own op for tpcore.build_conv
            priority=0,  # before einsum (100) where it accepts; einsum computes the rest
            capabilities=Capabilities(
                modes={"uvu"},
                dtypes={"float32", "float64"},
                devices={"cpu"},
                grad_order=0,
                jit=False,
                per_sample_weights=True,
            ),
            description="MACE's uvu convolution from the path-level descriptor, paths sharing an input pair coupled once",
        )
    )
