"""docs/FORMAT.md's vectors opened and re-sealed by Node.js's own crypto: an
AES-GCM implementation that shares nothing with ours (OpenSSL through Node, not
the ``cryptography`` package), reading both the text and the binary form."""

import base64
import json
import shutil
import subprocess

import pytest

from tests.crypto.test_format_vectors import VECTORS

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js is not installed")

# Reads the vectors (JSON on stdin) and prints, per vector, what Node made of each
# form: the opened plaintext (hex) and the form re-sealed with the vector's nonce.
_SCRIPT = r"""
const crypto = require("crypto");
const vectors = JSON.parse(require("fs").readFileSync(0, "utf8"));

function headerEnd(buf) {
  // The header is "$si1$" digits "$": it ends at the second '$' after the prefix.
  if (buf.subarray(0, 5).toString("latin1") !== "$si1$") throw new Error("not sealed");
  const end = buf.indexOf(0x24, 5);
  if (end < 6) throw new Error("malformed");
  return end + 1;
}

function open(key, header, payload, context) {
  if (payload.length < 28) throw new Error("too short");
  const nonce = payload.subarray(0, 12);
  const tag = payload.subarray(payload.length - 16);
  const ct = payload.subarray(12, payload.length - 16);
  const d = crypto.createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: 16 });
  d.setAAD(Buffer.concat([header, context]));
  d.setAuthTag(tag);
  return Buffer.concat([d.update(ct), d.final()]);
}

function seal(key, header, nonce, plaintext, context) {
  const c = crypto.createCipheriv("aes-256-gcm", key, nonce, { authTagLength: 16 });
  c.setAAD(Buffer.concat([header, context]));
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([nonce, ct, c.getAuthTag()]);
}

const out = vectors.map((v) => {
  const key = Buffer.from(v.key, "base64url");
  const context = Buffer.from(v.context, "hex");
  const nonce = Buffer.from(v.nonce, "hex");
  const plaintext = Buffer.from(v.plaintext, "hex");
  const text = Buffer.from(v.sealed, "ascii");
  const tEnd = headerEnd(text);
  const tHeader = text.subarray(0, tEnd);
  const tPayload = Buffer.from(text.subarray(tEnd).toString("ascii"), "base64url");
  const bin = Buffer.from(v.binary, "hex");
  const bEnd = headerEnd(bin);
  const bHeader = bin.subarray(0, bEnd);
  let tampered;
  try {
    const bad = Buffer.from(bin);
    bad[bad.length - 1] ^= 1;
    open(key, bHeader, bad.subarray(bEnd), context);
    tampered = "opened";
  } catch (e) {
    tampered = "refused";
  }
  return {
    text_opened: open(key, tHeader, tPayload, context).toString("hex"),
    binary_opened: open(key, bHeader, bin.subarray(bEnd), context).toString("hex"),
    text_sealed:
      tHeader.toString("ascii") +
      seal(key, tHeader, nonce, plaintext, context).toString("base64url"),
    binary_sealed: Buffer.concat([bHeader, seal(key, bHeader, nonce, plaintext, context)])
      .toString("hex"),
    tampered,
  };
});
process.stdout.write(JSON.stringify(out));
"""


def test_node_opens_and_reproduces_both_forms_of_every_vector():
    payload = [
        {
            "key": base64.urlsafe_b64encode(v["key"]).decode(),
            "context": v["context"].hex(),
            "nonce": v["nonce"].hex(),
            "plaintext": v["plaintext"].hex(),
            "sealed": v["sealed"],
            "binary": v["binary"].hex(),
        }
        for v in VECTORS
    ]
    result = subprocess.run(
        [NODE, "-e", _SCRIPT],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answers = json.loads(result.stdout)
    assert len(answers) == len(VECTORS)
    for vector, answer in zip(VECTORS, answers, strict=True):
        assert answer["text_opened"] == vector["plaintext"].hex()
        assert answer["binary_opened"] == vector["plaintext"].hex()
        # Node's base64url has no padding; FORMAT.md's text form keeps it.
        padded = answer["text_sealed"] + "=" * (-len(answer["text_sealed"].split("$")[-1]) % 4)
        assert padded == vector["sealed"]
        assert answer["binary_sealed"] == vector["binary"].hex()
        assert answer["tampered"] == "refused"
