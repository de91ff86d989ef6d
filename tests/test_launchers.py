"""The cluster launchers' configs compose (there is no cluster here to run them on) and reject what they do not know."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_module
from hydra.errors import ConfigCompositionException
from omegaconf import DictConfig

from stillroom.cli.overrides import check_overrides
from stillroom.errors import StillroomError
from stillroom.plugin_manager import get_plugin_manager


def hydra_launcher(*overrides: str) -> DictConfig:
    with initialize_config_module(config_module="stillroom.conf", version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=True).hydra.launcher


def test_the_slurm_launcher_is_submitits_with_one_task_per_job(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STILLROOM_SLURM_PARTITION", "gpu")
    launcher = hydra_launcher("hydra/launcher=slurm", "hydra.launcher.gpus_per_node=2", "trainer=ddp_gpu", "trainer.devices=2")
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert (launcher.partition, launcher.gpus_per_node, launcher.tasks_per_node, launcher.timeout_min) == ("gpu", 2, 1, 240)
    assert launcher.account is None and launcher.signal_delay_s == 120  # the plugin's own defaults fill what the file leaves out


def test_a_misspelled_slurm_key_is_refused_by_the_plugins_schema() -> None:
    with pytest.raises(ConfigCompositionException, match="partion"):
        hydra_launcher("hydra/launcher=slurm", "hydra.launcher.partion=gpu")


def test_the_ray_launcher_names_its_class_and_reads_the_cluster_address_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert hydra_launcher("hydra/launcher=ray").ray.init.address is None
    monkeypatch.setenv("RAY_ADDRESS", "auto")
    launcher = hydra_launcher("hydra/launcher=ray", "hydra.launcher.ray.remote.num_gpus=1")
    assert launcher._target_ == "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"
    assert (launcher.ray.init.address, launcher.ray.remote.num_cpus, launcher.ray.remote.num_gpus) == ("auto", 8, 1)


def test_stillroom_run_accepts_a_launcher_and_names_the_options_of_a_misspelled_one() -> None:
    plugins = get_plugin_manager()
    check_overrides(plugins, ["-m", "hydra/launcher=slurm", "student=tiny,small", "trainer=ddp_cpu"])
    with pytest.raises(StillroomError, match=r"no option 'slrum' in config group 'hydra/launcher' \(did you mean 'slurm'\?\); options: .*ray.*slurm"):
        check_overrides(plugins, ["-m", "hydra/launcher=slrum", "student=tiny,small"])
