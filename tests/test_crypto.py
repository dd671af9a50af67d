import pytest

from thsync.core.crypto import Cipher, CryptoError, cipher_from_env, generate_key

KEY_A = generate_key()
KEY_B = generate_key()


@pytest.mark.parametrize("text", ["", "refresh-token-123", "ünïcødé ✓", "x" * 5000])
def test_round_trip(text):
    cipher = Cipher(KEY_A)
    token = cipher.encrypt(text)
    assert token != text
    assert cipher.decrypt(token) == text


def test_each_encryption_differs():
    cipher = Cipher(KEY_A)
    assert cipher.encrypt("same") != cipher.encrypt("same")


@pytest.mark.parametrize("token", ["not-a-token", Cipher(KEY_B).encrypt("secret"), "ü"])
def test_wrong_key_or_garbage_is_a_clear_error(token):
    with pytest.raises(CryptoError) as caught:
        Cipher(KEY_A).decrypt(token)
    assert str(caught.value) == (
        "A stored secret could not be decrypted: the encryption key is wrong or has changed."
    )


def test_rotation_first_key_encrypts_every_key_decrypts():
    old_token = Cipher(KEY_A).encrypt("old")
    rotated = Cipher(f"{KEY_B}, {KEY_A}")
    assert rotated.decrypt(old_token) == "old"
    assert Cipher(KEY_B).decrypt(rotated.encrypt("new")) == "new"


@pytest.mark.parametrize("key", ["short", f"{KEY_A},nonsense", " , "])
def test_invalid_key_is_refused_without_echoing_it(key):
    with pytest.raises(CryptoError) as caught:
        Cipher(key)
    assert "nonsense" not in str(caught.value)
    assert "short" not in str(caught.value)


@pytest.mark.parametrize(
    "env, expected",
    [({}, None), ({"THSYNC_ENCRYPTION_KEY": ""}, None), ({"THSYNC_ENCRYPTION_KEY": "  "}, None)],
)
def test_cipher_from_env_without_a_key(env, expected):
    assert cipher_from_env(env) is expected


def test_cipher_from_env_reads_the_named_setting():
    cipher = cipher_from_env({"OTHER": KEY_A}, name="OTHER")
    assert Cipher(KEY_A).decrypt(cipher.encrypt("x")) == "x"


def test_generated_keys_are_distinct_and_usable():
    assert generate_key() != generate_key()
    Cipher(generate_key())
