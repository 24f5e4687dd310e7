#!/usr/bin/env python3
"""Writes an OVMF variable store whose first boot entry loads the disk's
\\EFI\\BOOT\\BOOTX64.EFI with the given load options, as an operator who
controls the firmware's variables could: with Secure Boot off, systemd-stub
then boots the kernel with those options instead of the UKI's own command
line, measures them into PCR 12, and the kernel measures them into PCR 9
(the Boot#### variable itself goes into PCR 1). The measured-image test
(crates/cli/tests/measured_vm.rs) boots such a store and checks that
verification fails naming those PCRs.

    efi-boot-entry.py IN_VARS.fd OUT_VARS.fd 'load options'

Needs the `virt-firmware` package (scripts/setup.sh installs it, pinned, in
~/.cache/blindfold/venv).
"""
import sys

from virt.firmware.efi import devpath, ucs16
from virt.firmware.varstore import autodetect


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    source, target, options = sys.argv[1:4]
    store = autodetect.open_varstore(source)
    variables = store.get_varlist()
    # UCS-2 with its terminating NUL, as a boot manager passes it.
    optional_data = bytes(ucs16.from_string(options)) if options else None
    index = variables.add_boot_entry(
        "Blindfold image with load options",
        devpath.DevicePath.filepath("\\EFI\\BOOT\\BOOTX64.EFI"),
        optional_data,
    )
    if not variables.get("BootOrder"):
        variables.create("BootOrder")
    variables.get("BootOrder").set_boot_order([index])
    store.write_varstore(target, variables)


if __name__ == "__main__":
    main()
