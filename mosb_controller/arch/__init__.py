"""Architecture detection. Pure: node → architecture, pool → architecture set, the record.

No I/O, no clock: the runtime feeds it nodes and pools and writes what it returns.
"""

from mosb_controller.arch.detect import *  # noqa: F403  (split into modules below)
