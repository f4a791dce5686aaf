@pytest.mark.parametrize("path", ["/submit", "/staff/sign-in"])
def test_the_new_pages_keep_the_strict_content_security_policy(
    served: tuple[TestClient, Any], path: str
) -> None:
    client, _ = served
    response = client.get(path)
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "<script>" not in response.text and "style=" not in response.text
    cookie = response.headers["set-cookie"].lower()  # the CSRF cookie
    assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
