"""Storage under its first name: re-exports the contract and both stores, holding nothing.

The store was one module; it is now :mod:`chalicelib.storage` (the :class:`Store` contract,
its errors, page tokens and time keys), :mod:`chalicelib.memstore` (:class:`MemoryStore`)
and :mod:`chalicelib.dynamo` (:class:`DynamoStore` and the table's layout). Every name it
held stays importable from here; new code imports from those homes, none of which imports
this module.
"""
from __future__ import annotations

# Re-exported: the names this module held before it was split (see the docstring).
from chalicelib.dynamo import (  # noqa: F401
    BATCH_GET_KEYS,
    BATCH_TRIES,
    BATCH_WRITE_ITEMS,
    DUE_INDEX,
    DUE_PARTITIONS,
    DUE_SHARDS,
    ERROR_PARTITION,
    ERRORS_INDEX,
    FLEET_READERS,
    MODELS_INDEX,
    REMEMBERED_GLANCES,
    TABLE_KEYS,
    TTL_ATTRIBUTE,
    WARM_SPAN_DAYS,
    DynamoStore,
    _conditional_failed,
    _incarnation_of,
    _json,
    _owned,
    _plain,
    _record,
    _typed,
    _typed_item,
    create_table,
    due_partition,
    due_partition_of,
)
from chalicelib.memstore import MemoryStore  # noqa: F401
from chalicelib.storage import (  # noqa: F401
    FLEET_PAGE,
    BadPageToken,
    ModelAlreadyExists,
    ModelNotFound,
    StateConflict,
    Store,
    StoreError,
    _next_version,
    _own,
    decode_token,
    due_key,
    encode_token,
)
