"""Does a hub server's launcher show exactly what the user needs and cover what a learner must not see?"""

import shutil
import tempfile
from pathlib import Path

from course_tools.hub import launcher_script


def test_a_needed_folder_under_an_unreachable_one_is_bound_back_alone():
    """A Python under a mode-700 folder: a tmpfs over that folder, the Python bound back into it, and
    hidden folders covered by an empty read-only tmpfs; the server is exec'd as the user last."""
    tmp_path = Path(tempfile.mkdtemp(prefix="course-launcher-"))    # /tmp itself is reachable by all
    tmp_path.chmod(0o755)
    locked = tmp_path / "locked"
    (locked / "py" / "bin").mkdir(parents=True)
    locked.chmod(0o700)
    try:
        script = launcher_script([locked / "py", tmp_path], [tmp_path / "assessments"])
    finally:
        shutil.rmtree(tmp_path)
    lines = script.splitlines()
    assert f'mount --bind {locked} "$stage"' in lines
    assert f"mount -t tmpfs -o mode=755,size=1m tmpfs {locked}" in lines
    assert f'mount --bind "$stage"/py {locked / "py"}' in lines
    assert not any(f"tmpfs {tmp_path}" == l.split(" ", 5)[-1] for l in lines)   # reachable: left alone
    assert f"mount -t tmpfs -o ro,mode=755,size=1m tmpfs {tmp_path / 'assessments'}" in script
    assert lines[-1].startswith('exec setpriv --reuid="$uid" --regid="$gid" --init-groups --no-new-privs')
