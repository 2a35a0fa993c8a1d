"""tpcore-cuequivariance: cuEquivariance's torch ops as tpcore cgtp implementations."""
