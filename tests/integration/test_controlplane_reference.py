"""The reference control plane (tests/controlplane/, issue 7) passes its own tests.

The integration runner discovers tests/integration/test_*.py only; this module brings in
tests/controlplane/test_cp.py so that `make test` runs it too. No ottboxd is involved: it
starts cp.py and plays the device with device.py. Run it alone with
    cd tests/controlplane && /usr/bin/python3 -m unittest -v test_cp
"""

import os
import sys

# Appended, so that no module here is shadowed by one of tests/controlplane's.
sys.path.append(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                             "controlplane"))

from test_cp import (  # noqa: E402
    CliTest, DesiredTest, DeviceTokenTest, EnrollmentTest, JwsUnitTest, ReportedEventsTest,
    RestartTest, TlsAndBasePathTest)

# unittest collects the test cases imported here.
__all__ = ["CliTest", "DesiredTest", "DeviceTokenTest", "EnrollmentTest", "JwsUnitTest",
           "ReportedEventsTest", "RestartTest", "TlsAndBasePathTest"]
