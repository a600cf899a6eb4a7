"""The REST contract against the real accounts service: methods and bodies, envelopes, 404/204, wrong shapes,
path arguments as exactly one encoded segment, batch keys that cannot be sent, ids that match no key.

Every request is checked as the service received it (method, raw path and query, recorded by the service)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from examples.services.cluster import Cluster
from examples.services.common import STATS_KEY
from gateway import Gateway

from .conftest import rows, service_configs

SDL = """
type Query {
  account(id: ID!): Account @remote(service: "accounts", path: "/accounts/{id}")
  accountInEnvelope(id: ID!): Account @remote(service: "accounts", path: "/v2/accounts/{id}", items: "data")
  accountWrongEnvelope(id: ID!): Account @remote(service: "accounts", path: "/v2/accounts/{id}", items: "item")
  accountAsList(id: ID!): [Account!] @remote(service: "accounts", path: "/accounts/{id}")
  accounts(ids: [ID!]!): [Account!]! @remote(service: "accounts", path: "/accounts")
  orders(first: Int!): [Order!]! @remote(service: "orders")
}

type Mutation {
  createAccount(name: String!, email: String!): Account @remote(service: "accounts", path: "/accounts")
  renameAccount(id: ID!, name: String!): Account
    @remote(service: "accounts", path: "/accounts/{id}", method: "PATCH")
  deleteAccount(id: ID!): Account @remote(service: "accounts", path: "/accounts/{id}", method: "DELETE")
}

type Order {
  id: ID!
  buyerId: ID!
  buyer: Account
  buyerInEnvelope: Account @batch(service: "accounts", key: "buyerId", path: "/v2/accounts", items: "items")
  buyerByEmail: Account @batch(service: "accounts", key: "buyerId", path: "/accounts", match: "email")
}

type Account { id: ID! name: String! email: String! }
"""

# The order whose buyer key is made hostile by the key function, by position in `orders(first: 3)`.
HOSTILE_KEYS = {0: "5,6", 1: "5\n"}


def received(cluster: Cluster, service: str = "accounts") -> list[str]:
    return list(cluster.apps[service][STATS_KEY].received)


@pytest.fixture
async def gateway(cluster: Cluster) -> Any:
    made = Gateway.from_sdl(SDL, service_configs(cluster), path="rest.graphql")
    first_ids = [r["id"] for r in rows(cluster, "orders", "SELECT id FROM orders ORDER BY id LIMIT 3")]

    @made.batch("Order.buyer", service="accounts", path="/accounts", requires=("id", "buyerId"))
    def buyer_key(order: Mapping[str, Any]) -> Any:
        position = first_ids.index(int(order["id"])) if int(order["id"]) in first_ids else -1
        return HOSTILE_KEYS.get(position, order["buyerId"])

    async with made:
        await cluster.reset_stats()
        yield made


def error(message: str, path: list[Any], code: str, line: int = 1, column: int = 3) -> dict[str, Any]:
    return {
        "message": message,
        "locations": [{"line": line, "column": column}],
        "path": path,
        "extensions": {"code": code, "service": "accounts"},
    }


REFUSED = ["../stats", "5/../../stats", "%2e%2e/stats", "..", ".", "", "5\n", "%2F"]


@pytest.mark.parametrize("value", REFUSED)
async def test_a_path_argument_that_is_not_one_segment_is_refused(
    gateway: Gateway, cluster: Cluster, value: str
) -> None:
    answer = await gateway.execute("query($id: ID!) { account(id: $id) { id } }", {"id": value})
    assert answer == {
        "data": {"account": None},
        "errors": [
            error(
                f"accounts: argument 'id' cannot be sent as one path segment of /accounts/{{id}}: {value!r}"
                " (empty, '.', '..', '/' or a control character)",
                ["account"],
                "BAD_USER_INPUT",
                column=19,
            )
        ],
    }
    assert received(cluster) == []  # nothing was sent


@pytest.mark.parametrize(
    ("value", "sent"), [("5?x=1", "GET /accounts/5%3Fx=1"), ("5#frag", "GET /accounts/5%23frag")]
)
async def test_a_path_argument_is_sent_percent_encoded(
    gateway: Gateway, cluster: Cluster, value: str, sent: str
) -> None:
    answer = await gateway.execute("query($id: ID!) { account(id: $id) { id } }", {"id": value})
    assert received(cluster) == [sent]
    # the service reads the whole value as the id, and refuses it: it did not read 5
    assert answer == {
        "data": {"account": None},
        "errors": [error("accounts: HTTP 400 Bad Request", ["account"], "DOWNSTREAM_HTTP_ERROR", column=19)],
    }


async def test_a_single_lookup_answered_404_is_null(gateway: Gateway, cluster: Cluster) -> None:
    assert await gateway.execute("{ account(id: 999999) { id } }") == {"data": {"account": None}}
    assert received(cluster) == ["GET /accounts/999999"]


async def test_batch_keys_that_cannot_be_sent_fail_only_their_parents(
    gateway: Gateway, cluster: Cluster
) -> None:
    answer = await gateway.execute("{ orders(first: 3) { id buyer { name } } }")
    orders = rows(cluster, "orders", "SELECT id, buyer_id FROM orders ORDER BY id LIMIT 3")
    names = {r["id"]: r["name"] for r in rows(cluster, "accounts", "SELECT id, name FROM accounts")}
    assert answer == {
        "data": {
            "orders": [
                {"id": str(orders[0]["id"]), "buyer": None},
                {"id": str(orders[1]["id"]), "buyer": None},
                {"id": str(orders[2]["id"]), "buyer": {"name": names[orders[2]["buyer_id"]]}},
            ]
        },
        "errors": [
            error(
                "accounts: key '5,6' cannot be sent to GET /accounts?ids=: it holds ',', the separator of the keys",
                ["orders", 0, "buyer"],
                "INVALID_KEY",
                column=25,
            ),
            error(
                "accounts: key '5\\n' cannot be sent to GET /accounts?ids=: it holds a control character",
                ["orders", 1, "buyer"],
                "INVALID_KEY",
                column=25,
            ),
        ],
    }
    assert received(cluster) == [f"GET /accounts?ids={orders[2]['buyer_id']}"]  # one request, the good key


async def test_mutations_post_patch_and_delete_with_json_bodies(gateway: Gateway, cluster: Cluster) -> None:
    created = await gateway.execute(
        'mutation { createAccount(name: "Ada Byron", email: "ada@example.com") { id name email } }'
    )
    account = created["data"]["createAccount"]
    new_id = account["id"]
    assert created == {
        "data": {"createAccount": {"id": new_id, "name": "Ada Byron", "email": "ada@example.com"}}
    }
    renamed = await gateway.execute(
        'mutation($id: ID!) { renameAccount(id: $id, name: "Ada Lovelace") { id name } }', {"id": new_id}
    )
    assert renamed == {"data": {"renameAccount": {"id": new_id, "name": "Ada Lovelace"}}}
    deleted = await gateway.execute("mutation($id: ID!) { deleteAccount(id: $id) { id } }", {"id": new_id})
    assert deleted == {"data": {"deleteAccount": None}}  # 204 No Content
    gone = await gateway.execute("query($id: ID!) { account(id: $id) { id } }", {"id": new_id})
    assert gone == {"data": {"account": None}}  # 404
    assert received(cluster) == [
        "POST /accounts",
        f"PATCH /accounts/{new_id}",
        f"DELETE /accounts/{new_id}",
        f"GET /accounts/{new_id}",
    ]
    assert rows(cluster, "accounts", "SELECT id FROM accounts WHERE id = ?", int(new_id)) == []


async def test_envelopes(gateway: Gateway, cluster: Cluster) -> None:
    orders = rows(cluster, "orders", "SELECT id, buyer_id FROM orders ORDER BY id LIMIT 5")
    accounts = {r["id"]: r for r in rows(cluster, "accounts", "SELECT id, name, email FROM accounts")}
    answer = await gateway.execute(
        "{ accountInEnvelope(id: 7) { id name } orders(first: 5) { buyerInEnvelope { name } } }"
    )
    assert answer == {
        "data": {
            "accountInEnvelope": {"id": "7", "name": accounts[7]["name"]},
            "orders": [{"buyerInEnvelope": {"name": accounts[o["buyer_id"]]["name"]}} for o in orders],
        }
    }
    buyers = ",".join(dict.fromkeys(str(o["buyer_id"]) for o in orders))
    assert sorted(received(cluster)) == ["GET /v2/accounts/7", f"GET /v2/accounts?ids={buyers}"]


async def test_wrong_shapes_name_the_service_the_request_and_what_was_expected(gateway: Gateway) -> None:
    answer = await gateway.execute("{ accountWrongEnvelope(id: 7) { id } accountAsList(id: 7) { id } }")
    assert answer == {
        "data": {"accountWrongEnvelope": None, "accountAsList": None},
        "errors": [
            error(
                "accounts: GET /v2/accounts/{id} answered a JSON object without 'item'; expected an object with"
                " 'item' (items: item)",
                ["accountWrongEnvelope"],
                "DOWNSTREAM_BAD_RESPONSE",
            ),
            error(
                "accounts: GET /accounts/{id} answered a JSON object; expected a JSON array",
                ["accountAsList"],
                "DOWNSTREAM_BAD_RESPONSE",
                column=38,
            ),
        ],
    }


async def test_items_matching_no_key_fail_the_keys_with_no_item(gateway: Gateway, cluster: Cluster) -> None:
    answer = await gateway.execute("{ orders(first: 2) { buyerByEmail { name } } }")
    orders = rows(cluster, "orders", "SELECT buyer_id FROM orders ORDER BY id LIMIT 2")
    emails = {r["id"]: r["email"] for r in rows(cluster, "accounts", "SELECT id, email FROM accounts")}
    first_email = emails[max(o["buyer_id"] for o in orders)]  # the service answers in descending id order
    assert answer == {
        "data": {"orders": [{"buyerByEmail": None}, {"buyerByEmail": None}]},
        "errors": [
            error(
                f"accounts: no item for key '{o['buyer_id']}'; the answer has {len({x['buyer_id'] for x in orders})}"
                f" item(s) whose 'email' is no key asked for (e.g. '{first_email}')",
                ["orders", i, "buyerByEmail"],
                "DOWNSTREAM_BAD_RESPONSE",
                column=22,
            )
            for i, o in enumerate(orders)
        ],
    }
