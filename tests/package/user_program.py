"""A user's Pulumi program that uses winfleet as a library (run by test_wheel.py in a fresh virtualenv,
outside the repository, under Pulumi mocks). Prints one JSON line describing what it registered."""
import json
import sys

import pulumi

registered: list[str] = []


class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        registered.append(args.typ)      # custom resources only: components never reach the mocks
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


pulumi.runtime.set_mocks(Mocks(), project="userproj", stack="dev", preview=False)

import winfleet  # noqa: E402  (after set_mocks, as Pulumi's mock docs require)
from winfleet.winrm import bootstrap  # noqa: E402

cfg = winfleet.parse_config({
    "mode": "existingHosts",
    "existingHosts": [{"name": "edge-0", "host": "192.0.2.10", "username": "ops", "password": "pw-edge-0",
                       "certSha256": "ab" * 32}],
    "services": [{"name": "orders-api", "port": 8080,
                  "binary": {"url": "https://artifacts.example.com/orders-api/1.0.0/orders-api.exe",
                             "sha256": "cd" * 32}}],
})


def report(hosts, fleet):
    print(json.dumps({
        "package_file": winfleet.__file__,
        "drivers_dir": str(bootstrap.SCRIPTS_DIR),
        "service_read_script_chars": len(bootstrap.compose_script("service.read")),
        "types": sorted(set(registered)),
        "hosts": hosts,
        "fleet_class": f"{type(fleet).__module__}.{type(fleet).__qualname__}",
        "components_importable": "components" in sys.modules,
    }))


@pulumi.runtime.test   # runs the program and waits for its outputs, as Pulumi's unit-testing docs show
def program():
    fleet = winfleet.Fleet("userfleet", cfg)
    # `services` resolves once every host resource is registered (it carries their outputs).
    return pulumi.Output.all(fleet.outputs["hosts"], fleet.outputs["services"]).apply(
        lambda both: report(both[0], fleet))


program()
