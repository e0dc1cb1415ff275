#!/usr/bin/python3
"""Buildroot-style configuration front end over kconfiglib (python3-kconfiglib).

  kconfig.py defconfig FILE     write .config from a defconfig (defaults for the rest)
  kconfig.py olddefconfig       bring .config up to date with Kconfig
  kconfig.py savedefconfig OUT  write the minimal defconfig that reproduces .config
  kconfig.py header OUT         write the C header of CONFIG_* macros (and build options)
  kconfig.py menuconfig         interactive editor for .config
"""
import os
import sys

import kconfiglib

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load():
    os.environ.setdefault("KCONFIG_CONFIG", os.path.join(TOP, ".config"))
    kconf = kconfiglib.Kconfig(os.path.join(TOP, "Kconfig"), warn_to_stderr=True)
    return kconf


def options_string(kconf):
    """Space-separated NAME=value of every visible bool that is on and every string/int."""
    items = []
    for sym in kconf.unique_defined_syms:
        if not sym.visibility and sym.orig_type in (kconfiglib.BOOL, kconfiglib.TRISTATE):
            continue
        if sym.orig_type in (kconfiglib.BOOL, kconfiglib.TRISTATE):
            if sym.str_value == "y":
                items.append(sym.name)
        elif sym.str_value != "":
            items.append("%s=%s" % (sym.name, sym.str_value))
    return " ".join(items)


def write_header(kconf, out):
    tmp = out + ".tmp"
    kconf.write_autoconf(tmp)
    with open(tmp, "a") as f:
        opts = options_string(kconf).replace("\\", "\\\\").replace('"', '\\"')
        f.write('#define OB_BUILD_OPTIONS "%s"\n' % opts)
    old = None
    if os.path.exists(out):
        with open(out) as f:
            old = f.read()
    with open(tmp) as f:
        new = f.read()
    if old == new:
        os.unlink(tmp)  # keep the timestamp: nothing needs rebuilding
    else:
        os.replace(tmp, out)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd = argv[1]
    if cmd == "menuconfig":
        os.environ.setdefault("KCONFIG_CONFIG", os.path.join(TOP, ".config"))
        import menuconfig
        menuconfig.menuconfig(load())
        return
    kconf = load()
    config = os.environ["KCONFIG_CONFIG"]
    if cmd == "defconfig" and len(argv) == 3:
        kconf.load_config(argv[2])
        print(kconf.write_config(config))
    elif cmd == "olddefconfig":
        kconf.load_config(config)
        kconf.write_config(config, verbose=False)
    elif cmd == "savedefconfig" and len(argv) == 3:
        kconf.load_config(config)
        print(kconf.write_min_config(argv[2]))
    elif cmd == "header" and len(argv) == 3:
        kconf.load_config(config)
        write_header(kconf, argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
