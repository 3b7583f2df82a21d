"""nvidia.cuda_requirement: images that need a newer NVIDIA driver than the loaded one.

CUDA images declare the CUDA version they need in NVIDIA_REQUIRE_CUDA (their Config.Env), and
the toolkit refuses to start them on an older driver: `unsatisfied condition: cuda>=12.8,
please update your driver to a newer version` (toolkit#152). Judged here for the image asked
for (`--image`) and for the images of existing containers, against the CUDA version the loaded
driver supports (`nvidia-smi` where recorded, else the driver/CUDA table shipped as data).
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Findings, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Facts
    from gpudoctor.facts.nvidia_cuda import DriverCuda

ID = "nvidia.cuda_requirement"
REFUSED = (
    "{needs} (NVIDIA_REQUIRE_CUDA={requirement}); the loaded driver {driver} supports CUDA "
    "{driver_cuda}. The toolkit refuses to start it: `nvidia-container-cli: requirement error: "
    "unsatisfied condition: cuda>={needed}, please update your driver to a newer version, or "
    "use an earlier cuda container`.")
REMEDY = (
    "Install a newer NVIDIA driver (one whose CUDA version meets the requirement; `nvidia-smi` "
    "shows it in its header), or use an image tag built for CUDA {cuda} or older. Only as a "
    "last resort, when you know the image works on this driver: `docker run -e "
    "NVIDIA_DISABLE_REQUIRE=true ... {image}`.")

SENTENCES = Sentences(ID, {
    # the image asked for will be refused: certain; an existing container's image: a warning
    "unsatisfied_image": Say(
        Status.FAIL, "the image {image} needs CUDA {needed}, newer than the driver's {cuda}",
        "the image {image} needs " + REFUSED, REMEDY, finding="unsatisfied"),
    "unsatisfied": Say(
        Status.WARN, "container {name} (image {image}) needs CUDA {needed}, newer than the "
        "driver's {cuda}",
        "container {name} (image {image}) needs " + REFUSED, REMEDY),
    "ok": Say(Status.PASS, "{checked} image(s) checked; each fits CUDA {cuda}",
              "Each image's NVIDIA_REQUIRE_CUDA is met by the loaded driver."),
    "nothing_to_check": Say(
        Status.PASS, "no GPU image to check (driver supports CUDA {cuda}; pass --image to "
        "check one)", "Each image's NVIDIA_REQUIRE_CUDA is met by the loaded driver."),
    "cuda_unknown": Say(Status.SKIP, "the CUDA version of the driver is not known ({source})"),
})


class NvidiaCudaRequirement(Check):
    id = ID
    title = "Images fit the CUDA version the NVIDIA driver supports"
    area = Area.CONTAINER
    order = 105
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        from gpudoctor.facts.applies import nvidia_skip_reason

        skip = nvidia_skip_reason(facts)
        if skip:
            return skip
        d = facts.docker
        if not d.captured or not d.reachable:
            return "the Docker daemon cannot be asked about images (see docker.daemon)"
        return None

    def run(self, facts: Facts) -> Result:
        from gpudoctor.facts.nvidia_cuda import image_env
        from gpudoctor.facts.nvidia_layer import containers

        info: DriverCuda = facts.driver_cuda
        found = self.findings([f"driver CUDA version: {info.cuda or 'unknown'}"
                               + (" or newer" if info.at_least else "")
                               + f" (from {info.source})"])
        if info.cuda is None:
            return found.verdict("cuda_unknown", source=info.source)
        checked = 0
        wanted = facts.options.image
        if wanted:
            env = image_env(facts, wanted)
            if env is None:
                found.evidence.append(f"image {wanted}: not present on this daemon")
            else:
                checked += 1
                self._judge(f"the image {wanted}", env, info, found, "unsatisfied_image",
                            image=wanted)
        seen: set[str] = set()
        for c in containers(facts) or []:
            if c.injection not in ("hook", "cdi", "runtime"):
                continue
            checked += 1
            key = f"{c.image}|{c.env.get('NVIDIA_REQUIRE_CUDA', '')}"
            if key in seen:
                continue
            seen.add(key)
            self._judge(f"container {c.name} (image {c.image})", c.env, info, found,
                        "unsatisfied", image=c.image, name=c.name)
        return found.verdict("ok" if checked else "nothing_to_check", checked=checked,
                             cuda=info.cuda)

    @staticmethod
    def _judge(what: str, env: dict[str, str], info: DriverCuda, found: Findings, key: str,
               **names: Any) -> None:
        """Evidence for one image's requirement, and finding `key` when the driver is older."""
        from gpudoctor.facts.nvidia_cuda import image_requirement, judge_requirement

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
        found.say(key, **names, requirement=requirement, cuda=info.cuda,
                  needed=verdict.needed_cuda or "?", driver=info.driver or "?",
                  needs=f"CUDA {verdict.needed_cuda}" if verdict.needed_cuda else requirement,
                  driver_cuda=f"{info.cuda} or newer" if info.at_least else info.cuda)
