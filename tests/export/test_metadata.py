"""File records: size and sha256 of files and (reproducibly) of folders."""

import hashlib

from awh_tf.export import metadata


def test_file_record_of_a_file(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"abc")
    record = metadata.file_record(str(tmp_path / "a.bin"), str(tmp_path))
    assert record == {"path": "a.bin", "size_bytes": 3, "sha256": hashlib.sha256(b"abc").hexdigest()}


def test_file_record_of_a_folder(tmp_path):
    folder = tmp_path / "sm"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"pb")
    (folder / "variables" / "v.data").write_bytes(b"12345")
    record = metadata.file_record(str(folder), str(tmp_path))
    h = lambda b: hashlib.sha256(b).hexdigest()  # noqa: E731
    lines = sorted([f"saved_model.pb {h(b'pb')}", f"variables/v.data {h(b'12345')}"])
    assert record == {"path": "sm", "size_bytes": 7, "sha256": h("\n".join(lines).encode())}
    (folder / "variables" / "v.data").write_bytes(b"12346")
    assert metadata.file_record(str(folder), str(tmp_path))["sha256"] != record["sha256"]
