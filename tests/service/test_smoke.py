async def test_create_then_get(client) -> None:
    created = await client.post("/api/sessions", json={"title": "Hello!"})
    assert created.status == 201
    body = await created.json()
    fetched = await client.get(created.headers["Location"])
    assert fetched.status == 200
    assert await fetched.json() == body
