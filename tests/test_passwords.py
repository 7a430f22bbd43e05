from store.passwords import hash_password, needs_rehash, password_problem, verify_password


def test_a_password_verifies_only_against_its_own_hash():
    h = hash_password("correct horse battery")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "correct horse battery")
    assert not verify_password(h, "correct horse batterY")
    assert not verify_password(None, "correct horse battery")
    assert not verify_password("not-a-hash", "x")
    assert not needs_rehash(h)


def test_weak_or_huge_passwords_are_refused_with_a_bilingual_reason():
    assert "至少" in password_problem("short") and "at least" in password_problem("short")
    assert password_problem("x" * 300) is not None
    assert password_problem("long enough pass") is None
