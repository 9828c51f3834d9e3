from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Timeline(_message.Message):
    __slots__ = ("name", "fps", "width", "height", "drop_frame", "tracks")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    DROP_FRAME_FIELD_NUMBER: _ClassVar[int]
    TRACKS_FIELD_NUMBER: _ClassVar[int]
    name: str
    fps: _containers.RepeatedScalarFieldContainer[int]
    width: int
    height: int
    drop_frame: bool
    tracks: _containers.RepeatedCompositeFieldContainer[Track]
    def __init__(self, name: _Optional[str] = ..., fps: _Optional[_Iterable[int]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., drop_frame: _Optional[bool] = ..., tracks: _Optional[_Iterable[_Union[Track, _Mapping]]] = ...) -> None: ...

class Track(_message.Message):
    __slots__ = ("enabled", "items")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    items: _containers.RepeatedCompositeFieldContainer[Item]
    def __init__(self, enabled: _Optional[bool] = ..., items: _Optional[_Iterable[_Union[Item, _Mapping]]] = ...) -> None: ...

class Item(_message.Message):
    __slots__ = ("start", "end", "in_frame", "enabled", "name", "source", "scale", "pos_x", "pos_y", "crop_l", "crop_r", "crop_t", "crop_b")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    IN_FRAME_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    POS_X_FIELD_NUMBER: _ClassVar[int]
    POS_Y_FIELD_NUMBER: _ClassVar[int]
    CROP_L_FIELD_NUMBER: _ClassVar[int]
    CROP_R_FIELD_NUMBER: _ClassVar[int]
    CROP_T_FIELD_NUMBER: _ClassVar[int]
    CROP_B_FIELD_NUMBER: _ClassVar[int]
    start: int
    end: int
    in_frame: int
    enabled: bool
    name: str
    source: Source
    scale: float
    pos_x: float
    pos_y: float
    crop_l: float
    crop_r: float
    crop_t: float
    crop_b: float
    def __init__(self, start: _Optional[int] = ..., end: _Optional[int] = ..., in_frame: _Optional[int] = ..., enabled: _Optional[bool] = ..., name: _Optional[str] = ..., source: _Optional[_Union[Source, _Mapping]] = ..., scale: _Optional[float] = ..., pos_x: _Optional[float] = ..., pos_y: _Optional[float] = ..., crop_l: _Optional[float] = ..., crop_r: _Optional[float] = ..., crop_t: _Optional[float] = ..., crop_b: _Optional[float] = ...) -> None: ...

class Source(_message.Message):
    __slots__ = ("key", "name", "kind", "path", "width", "height")
    KEY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    key: str
    name: str
    kind: str
    path: str
    width: int
    height: int
    def __init__(self, key: _Optional[str] = ..., name: _Optional[str] = ..., kind: _Optional[str] = ..., path: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...
