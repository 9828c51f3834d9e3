from protos.mtt.v1 import timeline_pb2 as _timeline_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModelInfo(_message.Message):
    __slots__ = ("name", "version", "sha256", "path", "loaded", "idle_s", "backend", "loads")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    LOADED_FIELD_NUMBER: _ClassVar[int]
    IDLE_S_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    LOADS_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    sha256: str
    path: str
    loaded: bool
    idle_s: float
    backend: str
    loads: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., sha256: _Optional[str] = ..., path: _Optional[str] = ..., loaded: _Optional[bool] = ..., idle_s: _Optional[float] = ..., backend: _Optional[str] = ..., loads: _Optional[int] = ...) -> None: ...

class GetInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Info(_message.Message):
    __slots__ = ("version", "protocol", "capabilities", "model", "keep_alive_s", "pid")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    KEEP_ALIVE_S_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    version: str
    protocol: int
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    model: ModelInfo
    keep_alive_s: float
    pid: int
    def __init__(self, version: _Optional[str] = ..., protocol: _Optional[int] = ..., capabilities: _Optional[_Iterable[str]] = ..., model: _Optional[_Union[ModelInfo, _Mapping]] = ..., keep_alive_s: _Optional[float] = ..., pid: _Optional[int] = ...) -> None: ...

class SuggestOptions(_message.Message):
    __slots__ = ("kinds", "horizon_s", "sequence", "model")
    KINDS_FIELD_NUMBER: _ClassVar[int]
    HORIZON_S_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    kinds: _containers.RepeatedScalarFieldContainer[str]
    horizon_s: float
    sequence: str
    model: str
    def __init__(self, kinds: _Optional[_Iterable[str]] = ..., horizon_s: _Optional[float] = ..., sequence: _Optional[str] = ..., model: _Optional[str] = ...) -> None: ...

class SuggestRequest(_message.Message):
    __slots__ = ("path", "xml", "timeline", "source_name", "options")
    PATH_FIELD_NUMBER: _ClassVar[int]
    XML_FIELD_NUMBER: _ClassVar[int]
    TIMELINE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_NAME_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    path: str
    xml: bytes
    timeline: _timeline_pb2.Timeline
    source_name: str
    options: SuggestOptions
    def __init__(self, path: _Optional[str] = ..., xml: _Optional[bytes] = ..., timeline: _Optional[_Union[_timeline_pb2.Timeline, _Mapping]] = ..., source_name: _Optional[str] = ..., options: _Optional[_Union[SuggestOptions, _Mapping]] = ...) -> None: ...

class SequenceSummary(_message.Message):
    __slots__ = ("name", "step_seconds", "steps", "review", "next", "fill")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STEP_SECONDS_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    REVIEW_FIELD_NUMBER: _ClassVar[int]
    NEXT_FIELD_NUMBER: _ClassVar[int]
    FILL_FIELD_NUMBER: _ClassVar[int]
    name: str
    step_seconds: float
    steps: int
    review: int
    next: int
    fill: int
    def __init__(self, name: _Optional[str] = ..., step_seconds: _Optional[float] = ..., steps: _Optional[int] = ..., review: _Optional[int] = ..., next: _Optional[int] = ..., fill: _Optional[int] = ...) -> None: ...

class SuggestReply(_message.Message):
    __slots__ = ("document_json", "schema", "model", "source_sha256", "sequences", "cached", "elapsed_ms")
    DOCUMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_SHA256_FIELD_NUMBER: _ClassVar[int]
    SEQUENCES_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_MS_FIELD_NUMBER: _ClassVar[int]
    document_json: str
    schema: str
    model: ModelInfo
    source_sha256: str
    sequences: _containers.RepeatedCompositeFieldContainer[SequenceSummary]
    cached: bool
    elapsed_ms: float
    def __init__(self, document_json: _Optional[str] = ..., schema: _Optional[str] = ..., model: _Optional[_Union[ModelInfo, _Mapping]] = ..., source_sha256: _Optional[str] = ..., sequences: _Optional[_Iterable[_Union[SequenceSummary, _Mapping]]] = ..., cached: _Optional[bool] = ..., elapsed_ms: _Optional[float] = ...) -> None: ...

class SuggestBatchRequest(_message.Message):
    __slots__ = ("paths", "recursive", "options")
    PATHS_FIELD_NUMBER: _ClassVar[int]
    RECURSIVE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    paths: _containers.RepeatedScalarFieldContainer[str]
    recursive: bool
    options: SuggestOptions
    def __init__(self, paths: _Optional[_Iterable[str]] = ..., recursive: _Optional[bool] = ..., options: _Optional[_Union[SuggestOptions, _Mapping]] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("code", "message", "line")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    line: int
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., line: _Optional[int] = ...) -> None: ...

class SuggestBatchReply(_message.Message):
    __slots__ = ("index", "total", "path", "reply", "error")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    index: int
    total: int
    path: str
    reply: SuggestReply
    error: Error
    def __init__(self, index: _Optional[int] = ..., total: _Optional[int] = ..., path: _Optional[str] = ..., reply: _Optional[_Union[SuggestReply, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class PredictRequest(_message.Message):
    __slots__ = ("path", "xml", "timeline", "sequence", "start", "steps", "model")
    PATH_FIELD_NUMBER: _ClassVar[int]
    XML_FIELD_NUMBER: _ClassVar[int]
    TIMELINE_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    path: str
    xml: bytes
    timeline: _timeline_pb2.Timeline
    sequence: str
    start: int
    steps: int
    model: str
    def __init__(self, path: _Optional[str] = ..., xml: _Optional[bytes] = ..., timeline: _Optional[_Union[_timeline_pb2.Timeline, _Mapping]] = ..., sequence: _Optional[str] = ..., start: _Optional[int] = ..., steps: _Optional[int] = ..., model: _Optional[str] = ...) -> None: ...

class Asset(_message.Message):
    __slots__ = ("slot", "key", "name")
    SLOT_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    slot: int
    key: str
    name: str
    def __init__(self, slot: _Optional[int] = ..., key: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class PredictReply(_message.Message):
    __slots__ = ("sequence", "step_seconds", "total_steps", "start", "steps", "max_steps", "tracks", "slots", "value_fields", "p_active", "asset_probs", "values", "p_change", "assets", "model")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    STEP_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    TRACKS_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELDS_FIELD_NUMBER: _ClassVar[int]
    P_ACTIVE_FIELD_NUMBER: _ClassVar[int]
    ASSET_PROBS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    P_CHANGE_FIELD_NUMBER: _ClassVar[int]
    ASSETS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    sequence: str
    step_seconds: float
    total_steps: int
    start: int
    steps: int
    max_steps: int
    tracks: int
    slots: int
    value_fields: _containers.RepeatedScalarFieldContainer[str]
    p_active: _containers.RepeatedScalarFieldContainer[float]
    asset_probs: _containers.RepeatedScalarFieldContainer[float]
    values: _containers.RepeatedScalarFieldContainer[float]
    p_change: _containers.RepeatedScalarFieldContainer[float]
    assets: _containers.RepeatedCompositeFieldContainer[Asset]
    model: ModelInfo
    def __init__(self, sequence: _Optional[str] = ..., step_seconds: _Optional[float] = ..., total_steps: _Optional[int] = ..., start: _Optional[int] = ..., steps: _Optional[int] = ..., max_steps: _Optional[int] = ..., tracks: _Optional[int] = ..., slots: _Optional[int] = ..., value_fields: _Optional[_Iterable[str]] = ..., p_active: _Optional[_Iterable[float]] = ..., asset_probs: _Optional[_Iterable[float]] = ..., values: _Optional[_Iterable[float]] = ..., p_change: _Optional[_Iterable[float]] = ..., assets: _Optional[_Iterable[_Union[Asset, _Mapping]]] = ..., model: _Optional[_Union[ModelInfo, _Mapping]] = ...) -> None: ...

class FeaturesRequest(_message.Message):
    __slots__ = ("path", "xml", "timeline", "sequence", "step", "source_name")
    PATH_FIELD_NUMBER: _ClassVar[int]
    XML_FIELD_NUMBER: _ClassVar[int]
    TIMELINE_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    SOURCE_NAME_FIELD_NUMBER: _ClassVar[int]
    path: str
    xml: bytes
    timeline: _timeline_pb2.Timeline
    sequence: str
    step: str
    source_name: str
    def __init__(self, path: _Optional[str] = ..., xml: _Optional[bytes] = ..., timeline: _Optional[_Union[_timeline_pb2.Timeline, _Mapping]] = ..., sequence: _Optional[str] = ..., step: _Optional[str] = ..., source_name: _Optional[str] = ...) -> None: ...

class FeaturesReply(_message.Message):
    __slots__ = ("document_json",)
    DOCUMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    document_json: str
    def __init__(self, document_json: _Optional[str] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class QueueState(_message.Message):
    __slots__ = ("depth", "capacity", "busy", "busy_s", "completed", "rejected", "failed", "job", "stage", "percent")
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    BUSY_FIELD_NUMBER: _ClassVar[int]
    BUSY_S_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    depth: int
    capacity: int
    busy: bool
    busy_s: float
    completed: int
    rejected: int
    failed: int
    job: str
    stage: str
    percent: float
    def __init__(self, depth: _Optional[int] = ..., capacity: _Optional[int] = ..., busy: _Optional[bool] = ..., busy_s: _Optional[float] = ..., completed: _Optional[int] = ..., rejected: _Optional[int] = ..., failed: _Optional[int] = ..., job: _Optional[str] = ..., stage: _Optional[str] = ..., percent: _Optional[float] = ...) -> None: ...

class CacheState(_message.Message):
    __slots__ = ("entries", "capacity", "hits", "misses", "bytes", "max_bytes")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    MISSES_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    entries: int
    capacity: int
    hits: int
    misses: int
    bytes: int
    max_bytes: int
    def __init__(self, entries: _Optional[int] = ..., capacity: _Optional[int] = ..., hits: _Optional[int] = ..., misses: _Optional[int] = ..., bytes: _Optional[int] = ..., max_bytes: _Optional[int] = ...) -> None: ...

class WatchState(_message.Message):
    __slots__ = ("path", "poll", "missing", "seen", "processed", "skipped_unchanged", "failed", "last_error")
    PATH_FIELD_NUMBER: _ClassVar[int]
    POLL_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    SEEN_FIELD_NUMBER: _ClassVar[int]
    PROCESSED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    path: str
    poll: bool
    missing: bool
    seen: int
    processed: int
    skipped_unchanged: int
    failed: int
    last_error: str
    def __init__(self, path: _Optional[str] = ..., poll: _Optional[bool] = ..., missing: _Optional[bool] = ..., seen: _Optional[int] = ..., processed: _Optional[int] = ..., skipped_unchanged: _Optional[int] = ..., failed: _Optional[int] = ..., last_error: _Optional[str] = ...) -> None: ...

class Status(_message.Message):
    __slots__ = ("version", "protocol", "pid", "endpoint", "uptime_s", "serving", "model", "queue", "cache", "log", "watches", "watch_queue", "rss_mb")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    UPTIME_S_FIELD_NUMBER: _ClassVar[int]
    SERVING_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    CACHE_FIELD_NUMBER: _ClassVar[int]
    LOG_FIELD_NUMBER: _ClassVar[int]
    WATCHES_FIELD_NUMBER: _ClassVar[int]
    WATCH_QUEUE_FIELD_NUMBER: _ClassVar[int]
    RSS_MB_FIELD_NUMBER: _ClassVar[int]
    version: str
    protocol: int
    pid: int
    endpoint: str
    uptime_s: float
    serving: bool
    model: ModelInfo
    queue: QueueState
    cache: CacheState
    log: str
    watches: _containers.RepeatedCompositeFieldContainer[WatchState]
    watch_queue: int
    rss_mb: float
    def __init__(self, version: _Optional[str] = ..., protocol: _Optional[int] = ..., pid: _Optional[int] = ..., endpoint: _Optional[str] = ..., uptime_s: _Optional[float] = ..., serving: _Optional[bool] = ..., model: _Optional[_Union[ModelInfo, _Mapping]] = ..., queue: _Optional[_Union[QueueState, _Mapping]] = ..., cache: _Optional[_Union[CacheState, _Mapping]] = ..., log: _Optional[str] = ..., watches: _Optional[_Iterable[_Union[WatchState, _Mapping]]] = ..., watch_queue: _Optional[int] = ..., rss_mb: _Optional[float] = ...) -> None: ...

class ShutdownRequest(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class ShutdownReply(_message.Message):
    __slots__ = ("pid",)
    PID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    def __init__(self, pid: _Optional[int] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("path", "poll")
    PATH_FIELD_NUMBER: _ClassVar[int]
    POLL_FIELD_NUMBER: _ClassVar[int]
    path: str
    poll: bool
    def __init__(self, path: _Optional[str] = ..., poll: _Optional[bool] = ...) -> None: ...

class WatchReply(_message.Message):
    __slots__ = ("watch",)
    WATCH_FIELD_NUMBER: _ClassVar[int]
    watch: WatchState
    def __init__(self, watch: _Optional[_Union[WatchState, _Mapping]] = ...) -> None: ...

class UnwatchRequest(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class UnwatchReply(_message.Message):
    __slots__ = ("removed",)
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    removed: bool
    def __init__(self, removed: _Optional[bool] = ...) -> None: ...

class ListWatchesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListWatchesReply(_message.Message):
    __slots__ = ("watches",)
    WATCHES_FIELD_NUMBER: _ClassVar[int]
    watches: _containers.RepeatedCompositeFieldContainer[WatchState]
    def __init__(self, watches: _Optional[_Iterable[_Union[WatchState, _Mapping]]] = ...) -> None: ...
