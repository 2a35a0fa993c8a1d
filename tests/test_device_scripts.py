"""scripts/device_check.sh (run on an offline CUDA machine) and device_wheels.sh: what can be checked without a GPU."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args, **env):
    return subprocess.run(["bash", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", **env})


def test_dry_run_lists_every_step_on_the_device():
    result = run("scripts/device_check.sh", "--dry-run", OUT="/tmp/results")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "would write to /tmp/results" in out and "within 470 s" in out
    assert "pip install --no-index --no-deps --target /tmp/site .whl/*.whl" in out
    for backend in ("torch", "jax", "cupy"):
        assert f"-m tpcore.cli check --device cuda --backend {backend}" in out
    for backend in ("torch", "jax"):
        assert f"-m tpcore.cli compare --device cuda --backends {backend} --quick --batch 3000 --out /tmp/results/compare-{backend}.md" in out
    steps = [line.split("]")[0].lstrip("[") for line in out.splitlines() if line.startswith("[")]
    assert steps == ["install", "versions", "backends", "check-torch", "compare-torch", "check-cupy", "compare-jax", "check-jax", "sweep-torch", "sweep-jax"]
    for backend in ("torch", "jax"):
        assert f"scripts/strategy_sweep.py --backend {backend} --device cuda --rows 3000 --lmax 2" in out


def test_only_runs_the_named_steps_after_install_and_versions():
    out = run("scripts/device_check.sh", "--dry-run", "--only", "sweep-torch,check-cupy", SWEEP_ARGS="--rows 10 --lmax 1").stdout
    steps = [line.split("]")[0].lstrip("[") for line in out.splitlines() if line.startswith("[")]
    assert steps == ["install", "versions", "check-cupy", "sweep-torch"]
    assert "strategy_sweep.py --backend torch --device cuda --rows 10 --lmax 1" in out
    assert run("scripts/device_check.sh", "--only").returncode == 2


def test_device_and_full_change_the_commands():
    out = run("scripts/device_check.sh", "--dry-run", "--full", DEVICE="cuda:1").stdout
    assert "check --device cuda:1 --backend jax --full" in out and "--quick" not in out and "within" not in out


def test_a_bad_argument_is_one_line_and_exit_2():
    result = run("scripts/device_check.sh", "--nope")
    assert result.returncode == 2 and result.stderr.strip() == "device_check: unknown argument --nope (expected --dry-run, --full or --only STEPS)"


def test_the_scripts_parse():
    for script in ("device_check.sh", "device_wheels.sh"):
        assert run("-n", f"scripts/{script}").returncode == 0
