"""One Windows Server VM: NIC (static private IP, LB backend pool), optional public IP with a DNS label,
admin password (pulumi-random, secret), OS + data managed disks, boot diagnostics, system identity,
platform patching, WinRM/HTTPS listener from Key Vault (set at creation only)."""
from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_azure_native.compute as compute
import pulumi_azure_native.network as network
import pulumi_random as random

from ..config import WinfleetConfig

DATA_DISK_LUN = 0
# Azure: 8-123 chars, 3 of 4 character classes. Specials limited to ones that survive every shell/XML.
PASSWORD_SPECIALS = "!#%*()-_=+[]{}:?"


class WindowsVm(pulumi.ComponentResource):
    def __init__(self, name: str, cfg: WinfleetConfig, *, index: int, computer_name: str,
                 resource_group_name: pulumi.Input[str], subnet_id: pulumi.Input[str],
                 private_ip: str, backend_pool_id: pulumi.Input[str], tags: dict,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("winfleet:azure:WindowsVm", name, None, opts)
        az = cfg.azure
        child = pulumi.ResourceOptions(parent=self)
        self.computer_name = computer_name
        self.private_ip = private_ip
        self.zone = az.zones[index % len(az.zones)] if az.zones else None
        zones = [self.zone] if self.zone else None

        self.public_ip_resource = None
        self.public_ip: Optional[pulumi.Output[str]] = None
        self.fqdn: Optional[pulumi.Output[str]] = None
        self.dns_label: Optional[str] = None
        if cfg.winrm.connect_via == "public":
            self.dns_label = f"{az.dns_prefix}-{computer_name}"
            self.public_ip_resource = network.PublicIPAddress(
                f"{name}-ip", resource_group_name=resource_group_name, location=az.location, tags=tags,
                sku=network.PublicIPAddressSkuArgs(name="Standard", tier="Regional"),
                public_ip_allocation_method="Static", public_ip_address_version="IPv4", zones=zones,
                dns_settings=network.PublicIPAddressDnsSettingsArgs(domain_name_label=self.dns_label),
                opts=child)
            self.public_ip = self.public_ip_resource.ip_address
            # The FQDN Azure assigned (<label>.<region>.cloudapp.azure.com in the public cloud); the public IP
            # exists before the certificate, so the certificate carries the real name.
            fallback = f"{self.dns_label}.{az.location}.cloudapp.azure.com"
            self.fqdn = self.public_ip_resource.dns_settings.apply(
                lambda d: (d.fqdn if d is not None and d.fqdn else fallback))

        self.nic = network.NetworkInterface(
            f"{name}-nic", resource_group_name=resource_group_name, location=az.location, tags=tags,
            ip_configurations=[network.NetworkInterfaceIPConfigurationArgs(
                name="primary", primary=True, subnet=network.SubnetArgs(id=subnet_id),
                private_ip_allocation_method="Static", private_ip_address=private_ip,
                private_ip_address_version="IPv4",
                public_ip_address=(network.PublicIPAddressArgs(id=self.public_ip_resource.id)
                                   if self.public_ip_resource else None),
                load_balancer_backend_address_pools=[network.BackendAddressPoolArgs(id=backend_pool_id)],
            )], opts=child)

        self.admin_password = random.RandomPassword(
            f"{name}-admin-pw", length=24, special=True, override_special=PASSWORD_SPECIALS,
            min_upper=2, min_lower=2, min_numeric=2, min_special=2, opts=child)

    def create_vm(self, cfg: WinfleetConfig, *, resource_group_name: pulumi.Input[str],
                  vault_id: pulumi.Input[str], cert_secret_url: pulumi.Input[str], tags: dict,
                  depends_on: Optional[list] = None) -> compute.VirtualMachine:
        """Create the VM once the WinRM certificate (whose SANs need this VM's addresses) exists."""
        az = cfg.azure
        img = az.image
        os_disk = compute.OSDiskArgs(
            create_option="FromImage", os_type="Windows", caching="ReadWrite", delete_option="Delete",
            disk_size_gb=az.os_disk_size_gb,
            managed_disk=compute.ManagedDiskParametersArgs(storage_account_type=az.os_disk_type))
        data_disk = compute.DataDiskArgs(
            # caching None: the data disk is write-heavy (logs, dumps)
            lun=DATA_DISK_LUN, create_option="Empty", disk_size_gb=az.data_disk_size_gb, caching="None",
            delete_option="Delete", name=f"{self.computer_name}-data",
            managed_disk=compute.ManagedDiskParametersArgs(storage_account_type=az.data_disk_type))
        security = (compute.SecurityProfileArgs(
            security_type="TrustedLaunch",
            uefi_settings=compute.UefiSettingsArgs(secure_boot_enabled=True, v_tpm_enabled=True))
            if az.trusted_launch else None)
        self.vm = compute.VirtualMachine(
            f"{self._name}-vm", resource_group_name=resource_group_name, location=az.location,
            vm_name=self.computer_name, tags=tags,
            zones=[self.zone] if self.zone else None,
            hardware_profile=compute.HardwareProfileArgs(vm_size=az.vm_size),
            identity=compute.VirtualMachineIdentityArgs(type="SystemAssigned"),
            storage_profile=compute.StorageProfileArgs(
                image_reference=compute.ImageReferenceArgs(
                    publisher=img.publisher, offer=img.offer, sku=img.sku, version=img.version),
                os_disk=os_disk, data_disks=[data_disk]),
            os_profile=compute.OSProfileArgs(
                computer_name=self.computer_name, admin_username=az.admin_username,
                admin_password=pulumi.Output.secret(self.admin_password.result),
                allow_extension_operations=True,
                secrets=[compute.VaultSecretGroupArgs(
                    source_vault=compute.SubResourceArgs(id=vault_id),
                    vault_certificates=[compute.VaultCertificateArgs(
                        certificate_store="My", certificate_url=cert_secret_url)])],
                windows_configuration=compute.WindowsConfigurationArgs(
                    provision_vm_agent=True, enable_automatic_updates=True, time_zone=az.time_zone,
                    patch_settings=compute.PatchSettingsArgs(
                        patch_mode="AutomaticByPlatform", assessment_mode="AutomaticByPlatform",
                        automatic_by_platform_settings=compute.WindowsVMGuestPatchAutomaticByPlatformSettingsArgs(
                            reboot_setting="IfRequired")),
                    win_rm=compute.WinRMConfigurationArgs(listeners=[compute.WinRMListenerArgs(
                        protocol="Https", certificate_url=cert_secret_url)]))),
            network_profile=compute.NetworkProfileArgs(network_interfaces=[
                compute.NetworkInterfaceReferenceArgs(id=self.nic.id, primary=True, delete_option="Detach")]),
            diagnostics_profile=compute.DiagnosticsProfileArgs(
                boot_diagnostics=compute.BootDiagnosticsArgs(enabled=True)),   # managed storage account
            security_profile=security,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=depends_on or [],
                # osProfile (listener, secrets, computer name) can only be set at creation (§4.1).
                replace_on_changes=["osProfile.windowsConfiguration.winRM", "osProfile.secrets",
                                    "osProfile.computerName"],
                delete_before_replace=True))
        self.register_outputs({"vmId": self.vm.id, "privateIp": self.private_ip,
                               "publicIp": self.public_ip, "fqdn": self.fqdn})
        return self.vm
