"""How verify judges what its probe saw, for outcomes the test machine cannot produce for real
(a hung or glibc-less nvidia-smi, EPERM from a device cgroup, a node without a driver).

The probe output below is exactly what the PROBE script prints (see test_verify_docker.py for
the same script run in real containers).
"""

from __future__ import annotations

from gpudoctor.host.base import FileStat
from gpudoctor.verify import (
    Expectations,
    ExpectedDevice,
    VerifyResult,
    judge,
    parse_probe,
    parse_run_args,
)

KFD_HOST = FileStat(kind="char", mode=0o660, uid=0, gid=993, size=0, mtime=0.0, major=511,
                    minor=0)


def _judge(argv: list[str], outputs: dict[str, str], devices: list[str] = ()) -> VerifyResult:
    run_args = parse_run_args(argv)
    expect = Expectations(
        devices=[ExpectedDevice(p, p, f"--device={p}", KFD_HOST) for p in devices],
        nvidia_requested=bool(run_args.gpus), group_ids=run_args.numeric_groups,
        nvidia_count=run_args.gpus.wanted if run_args.gpus else None,
        users=list(outputs))
    result = VerifyResult(expected=expect)
    judge(result, expect, run_args,
          [parse_probe(user, "\n".join(lines) + "\ngdv\tend") for user, lines in
           ((u, o.splitlines()) for u, o in outputs.items())])
    return result.finish()


def _smi(state: str, *lines: str) -> str:
    return "\n".join(["gdv\tuid\t0", "gdv\tgids\t0", "gdv\tnvenv\tall",
                      f"gdv\tsmi\t{state}\t/usr/bin/nvidia-smi",
                      *(f"gdv\tsmiout\t{line}" for line in lines)])


def test_nvidia_smi_that_cannot_run_in_a_musl_image() -> None:
    result = _judge(["--gpus=all"], {"root": _smi("127", "sh: nvidia-smi: not found")})
    assert result.verdict == "fail" and result.cause.id == "image-without-glibc"
    assert "--image ubuntu" in result.cause.remedy


def test_nvidia_smi_that_hangs() -> None:
    for state in ("124", "143"):  # coreutils and busybox timeout
        result = _judge(["--gpus=all"], {"root": _smi(state)})
        assert result.cause.id == "nvidia-smi-hung"
        assert "did not finish within 20 s" in result.items[0].summary


def test_nvidia_smi_errors_go_through_the_table() -> None:
    result = _judge(["--gpus=all"], {"root": _smi("255", "Failed to initialize NVML: Unknown "
                                                         "Error")})
    assert result.cause.id == "nvml-unknown-error"
    absent = _judge(["--gpus=all"], {"root": "gdv\tuid\t0\ngdv\tsmi\tabsent"})
    assert absent.cause.id == "driver-not-injected"
    assert absent.items[0].summary == ("nvidia-smi is not in the container: the toolkit did not "
                                       "inject the driver")


def test_fewer_gpus_than_asked_for_is_a_warning() -> None:
    result = _judge(["--gpus=2"], {"root": _smi("0", "GPU 0: NVIDIA A100 (UUID: GPU-1)")})
    assert result.verdict == "warn"
    assert result.summary == "nvidia-smi lists 1 GPU(s), 2 expected"


def _open(user: str, error: str, mode: str = "660", gid: int = 993, gids: str = "65534") -> str:
    return "\n".join([f"gdv\tuid\t{user.split(':')[0]}", f"gdv\tgids\t{gids}",
                      f"gdv\tdev\tdenied\t/dev/kfd\t{mode} 0 {gid} 1ff 0\tsh: can't create "
                      f"/dev/kfd: {error}"])


def test_device_cgroup_denial_is_eperm() -> None:
    result = _judge([], {"root": _open("0", "Operation not permitted", gids="0")}, ["/dev/kfd"])
    assert result.cause.id == "device-cgroup-denied"
    assert "--device=/dev/kfd" in result.cause.remedy


def test_node_without_a_driver() -> None:
    result = _judge([], {"root": _open("0", "No such device or address", gids="0")},
                    ["/dev/kfd"])
    assert result.cause.id == "device-driver-missing"
    assert "(511:0)" in result.cause.summary


def test_group_held_but_mode_without_group_access() -> None:
    result = _judge(["--group-add=993"],
                    {"65534:65534": _open("65534", "Permission denied", mode="600",
                                          gids="65534 993")}, ["/dev/kfd"])
    assert result.cause.id == "group-mode"
    assert result.cause.summary == "/dev/kfd has mode 0600: its group 993 cannot read and write it"


def test_root_refused_points_at_selinux() -> None:
    result = _judge([], {"root": _open("0", "Permission denied", gids="0")}, ["/dev/kfd"])
    assert result.cause.id == "device-access-denied"
    assert "container_use_devices" in result.cause.remedy


def test_group_added_by_name_is_a_warning() -> None:
    ok = "gdv\tuid\t65534\ngdv\tgids\t65534 109\ngdv\tdev\trw\t/dev/kfd\t660 0 109 1ff 0"
    result = _judge(["--group-add=render"], {"65534:65534": ok}, ["/dev/kfd"])
    assert result.verdict == "warn" and result.cause.id == "group-by-name"


def test_arguments_without_any_gpu_are_a_warning() -> None:
    result = _judge(["--env=A=1"], {"root": "gdv\tuid\t0\ngdv\tgids\t0"})
    assert result.verdict == "warn" and result.cause.id == "no-gpu-requested"
