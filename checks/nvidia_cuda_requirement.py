"""nvidia.cuda_requirement: images that need a newer NVIDIA driver than the loaded one.

CUDA images declare the CUDA version they need in NVIDIA_REQUIRE_CUDA (their Config.Env), and
the toolkit refuses to start them on an older driver: `unsatisfied condition: cuda>=12.8,
please update your driver to a newer version` (toolkit#152). Judged here for the image asked
for (`--image`) and for the images of existing containers, against the CUDA version the loaded
driver supports (`nvidia-smi` where recorded, else the driver/CUDA table shipped as data).
"""

from __future__ import annotations

from gpudoctor.facts import Facts
from gpudoctor.facts.nvidia_cuda import (
    DriverCuda,
    RequirementVerdict,
    image_env,
    image_requirement,
    judge_requirement,
)
from gpudoctor.facts.nvidia_layer import containers
from gpudoctor.facts.toolkit import nvidia_skip_reason
from gpudoctor.plugin import Area, Check, Findings, Result, Status


def unsatisfied_text(what: str, verdict: RequirementVerdict, info: DriverCuda) -> str:
    needs = f"CUDA {verdict.needed_cuda}" if verdict.needed_cuda else verdict.requirement
    return (f"{what} needs {needs} (NVIDIA_REQUIRE_CUDA={verdict.requirement}); the loaded "
            f"driver {info.driver or '?'} supports CUDA {info.cuda or '?'}"
            + (" or newer" if info.at_least else ""))


def remedy(info: DriverCuda, image: str) -> str:
    return ("Install a newer NVIDIA driver (one whose CUDA version meets the requirement; "
            "`nvidia-smi` shows it in its header), or use an image tag built for CUDA "
            f"{info.cuda or 'your driver'} or older. Only as a last resort, when you know the "
            f"image works on this driver: `docker run -e NVIDIA_DISABLE_REQUIRE=true ... {image}`.")


class NvidiaCudaRequirement(Check):
    id = "nvidia.cuda_requirement"
    title = "Images fit the CUDA version the NVIDIA driver supports"
    area = Area.CONTAINER
    order = 105

    def applies(self, facts: Facts) -> str | None:
        skip = nvidia_skip_reason(facts)
        if skip:
            return skip
        d = facts.docker
        if not d.captured or not d.reachable:
            return "the Docker daemon cannot be asked about images (see docker.daemon)"
        return None

    def run(self, facts: Facts) -> Result:
        info: DriverCuda = facts.driver_cuda
        found = Findings(evidence=[f"driver CUDA version: {info.cuda or 'unknown'}"
                                   + (" or newer" if info.at_least else "")
                                   + f" (from {info.source})"])
        if info.cuda is None:
            return Result.skip(f"the CUDA version of the driver is not known ({info.source})",
                               evidence=found.evidence)
        checked = 0
        wanted = facts.options.image
        if wanted:
            env = image_env(facts, wanted)
            if env is None:
                found.evidence.append(f"image {wanted}: not present on this daemon")
            else:
                checked += 1
                self._judge(f"the image {wanted}", wanted, env, info, found, "image")
        seen: set[str] = set()
        for c in containers(facts) or []:
            if c.injection not in ("hook", "cdi", "runtime"):
                continue
            checked += 1
            key = f"{c.image}|{c.env.get('NVIDIA_REQUIRE_CUDA', '')}"
            if key in seen:
                continue
            seen.add(key)
            self._judge(f"container {c.name} (image {c.image})", c.image, c.env, info, found,
                        "container")
        return found.result(
            f"{checked} image(s) checked; each fits CUDA {info.cuda}" if checked else
            f"no GPU image to check (driver supports CUDA {info.cuda}; pass --image to check "
            "one)", "Each image's NVIDIA_REQUIRE_CUDA is met by the loaded driver.")

    def _judge(self, what: str, image: str, env: dict[str, str], info: DriverCuda,
               found: Findings, kind: str) -> None:
        requirement = image_requirement(env)
        if requirement is None:
            reason = ("NVIDIA_DISABLE_REQUIRE is set" if "NVIDIA_REQUIRE_CUDA" in env else
                      "no NVIDIA_REQUIRE_CUDA")
            found.evidence.append(f"{what}: {reason}")
            return
        verdict = judge_requirement(requirement, info)
        found.evidence.append(f"{what}: NVIDIA_REQUIRE_CUDA={requirement}: " + (
            "met" if verdict.satisfied else "not met" if verdict.satisfied is False else
            "depends on the GPU's brand (cannot be told here)"))
        if verdict.satisfied is not False:
            return
        found.add(
            Status.FAIL if kind == "image" else Status.WARN,
            f"{what} needs CUDA {verdict.needed_cuda or '?'}, newer than the driver's "
            f"{info.cuda}",
            unsatisfied_text(what, verdict, info) + ". The toolkit refuses to start it: "
            f"`nvidia-container-cli: requirement error: unsatisfied condition: "
            f"cuda>={verdict.needed_cuda}, please update your driver to a newer version, or use "
            "an earlier cuda container`.",
            remedy=remedy(info, image), id=f"{self.id}.unsatisfied")
