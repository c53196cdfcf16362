"""Install footprint: what airflow-platform-plugins[all] adds to an Airflow image, against the providers.

Three virtual environments: apache-airflow alone, plus this package with all extras, plus the amazon,
google and elasticsearch provider packages. Reports the added megabytes of site-packages and the
added distributions.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

AIRFLOW = "apache-airflow==3.3.2"
PROVIDERS = (
    "apache-airflow-providers-amazon==9.39.0",
    "apache-airflow-providers-google==22.8.0",
    "apache-airflow-providers-elasticsearch==6.10.0",
)
AZURE_PROVIDER = "apache-airflow-providers-microsoft-azure==15.2.1"
ROOT = Path(__file__).parents[1]


@dataclass
class Footprint:
    label: str
    megabytes: float
    distributions: int


def _venv(path: Path, *requirements: str) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    python = path / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, AIRFLOW, *requirements], check=True)
    return python


def _measure(python: Path, label: str) -> Footprint:
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    size = sum(f.stat().st_size for f in Path(site).rglob("*") if f.is_file() and not f.is_symlink())
    dists = len(list(Path(site).glob("*.dist-info")))
    return Footprint(label, size / 1e6, dists)


def _wheel(workdir: Path) -> Path:
    wheels = workdir / "wheel"
    if not list(wheels.glob("airflow_platform_plugins-*.whl")):
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), str(ROOT)],
            check=True,
        )
    return next(wheels.glob("airflow_platform_plugins-*.whl"))


def measure_footprint(workdir: Path) -> list[Footprint]:
    wheel = _wheel(workdir)
    base = _measure(_venv(workdir / "venv-airflow"), AIRFLOW)
    ours = _measure(_venv(workdir / "venv-ours", f"airflow-platform-plugins[all] @ {wheel.as_uri()}"), "ours")
    providers = _measure(_venv(workdir / "venv-providers", *PROVIDERS), "providers")
    return [base, ours, providers]


def print_footprint(results: list[Footprint]) -> None:
    base, ours, providers = results
    added_ours = (ours.megabytes - base.megabytes, ours.distributions - base.distributions)
    added_providers = (providers.megabytes - base.megabytes, providers.distributions - base.distributions)
    print("\n## Install footprint on top of", AIRFLOW, "\n")
    print("| install | site-packages MB | distributions | added MB | added distributions |")
    print("|---|---|---|---|---|")
    print(f"| {AIRFLOW} | {base.megabytes:.0f} | {base.distributions} | - | - |")
    print(
        f"| + airflow-platform-plugins[all] | {ours.megabytes:.0f} | {ours.distributions} "
        f"| {added_ours[0]:.0f} | {added_ours[1]} |"
    )
    print(
        f"| + amazon, google, elasticsearch providers | {providers.megabytes:.0f} "
        f"| {providers.distributions} "
        f"| {added_providers[0]:.0f} | {added_providers[1]} |"
    )
    print(
        f"\n- ours adds {added_ours[0] / added_providers[0]:.2f}x the megabytes and "
        f"{added_ours[1] / max(added_providers[1], 1):.2f}x the distributions of the three providers"
    )


def measure_azure_footprint(workdir: Path) -> list[Footprint]:
    """Airflow alone, then + ``[azure]``, then + ``[azure-identity]`` (one environment, grown step by
    step), and Airflow + the microsoft-azure provider (another)."""
    wheel = _wheel(workdir)
    python = _venv(workdir / "venv-azure-ours")
    steps = [_measure(python, AIRFLOW)]
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    for extra in ("azure", "azure-identity"):
        subprocess.run([*pip, f"airflow-platform-plugins[{extra}] @ {wheel.as_uri()}"], check=True)
        steps.append(_measure(python, f"+ airflow-platform-plugins[{extra}]"))
    provider = _measure(_venv(workdir / "venv-azure-provider", AZURE_PROVIDER), f"+ {AZURE_PROVIDER}")
    return [*steps, provider]


def print_azure_footprint(results: list[Footprint]) -> None:
    base, *rest = results
    print("\n## Azure install footprint on top of", AIRFLOW, "\n")
    print("| install | site-packages MB | distributions | added MB | added distributions |")
    print("|---|---|---|---|---|")
    print(f"| {AIRFLOW} | {base.megabytes:.0f} | {base.distributions} | - | - |")
    for step in rest:
        print(
            f"| {step.label} | {step.megabytes:.0f} | {step.distributions} "
            f"| {step.megabytes - base.megabytes:.1f} | {step.distributions - base.distributions} |"
        )
    provider = rest[-1].megabytes - base.megabytes
    for step in rest[:-1]:
        share = (step.megabytes - base.megabytes) / provider
        print(f"\n- {step.label} adds {share:.3f}x the provider's megabytes")
