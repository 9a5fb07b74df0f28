"""The library contract's path (`../shared/DESIGN.md`): preparing a photo lives in `lib.vision.images`.

Tests outside this project import `lib.images.prepare_image`, `PreparedImage` and `ImageRejected`; this module only
re-exports that module's public names. Code in this project imports `lib.vision.images` itself.
"""

from lib.vision.images import *  # noqa: F401,F403
from lib.vision.images import ImageRejected, PreparedImage, prepare_image  # noqa: F401
