"""Transplant a checkpoint by editing only its vocabulary-indexed tensors: any size, any architecture.

* :mod:`.files`: a safetensors checkpoint (one file or shards) read header by header, a tensor at a time;
* :mod:`.layout`: which tensors are the embeddings, asked of the model built on the meta device;
* :mod:`.source`: the checkpoint as a transplant's source (config, memory-mapped embeddings);
* :mod:`.budget`: memory and disk needed, estimated and checked before any work;
* :mod:`.writer`: shards written tensor by tensor, unchanged tensors copied byte for byte;
* :mod:`.output`: the transplanted checkpoint, written or loaded.
"""

from __future__ import annotations

from retok.lazy import lazy_attributes

__getattr__, __dir__ = lazy_attributes(
    __name__, __path__, {"Checkpoint": ".files", "CheckpointSource": ".source", "CheckpointOutput": ".output", "checkpoint_folder": ".source"}
)
