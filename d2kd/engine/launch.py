"""Multi-process launch that also works on CPU-only machines.

With CUDA, this is detectron2's own ``launch`` (NCCL). Without CUDA, detectron2
v0.6's ``launch`` fails (it hard-codes NCCL and ``torch.cuda.set_device``);
upstream main falls back to GLOO. Here the CPU case always uses GLOO, with the
same process-group layout as detectron2 (one local group per machine), so that
``--num-gpus N`` on a CPU machine runs N processes with DDP, as upstream does.
"""
import logging
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

DEFAULT_TIMEOUT = timedelta(minutes=30)


def _create_local_process_group(num_per_machine: int, machine_rank: int):
    from detectron2.utils import comm

    if hasattr(comm, "create_local_process_group"):  # detectron2 main
        comm.create_local_process_group(num_per_machine)
        return
    world_size = dist.get_world_size()
    for i in range(world_size // num_per_machine):
        group = dist.new_group(list(range(i * num_per_machine, (i + 1) * num_per_machine)))
        if i == machine_rank:
            comm._LOCAL_PROCESS_GROUP = group


def _cpu_worker(local_rank, main_func, world_size, num_per_machine, machine_rank, dist_url, args, timeout):
    from detectron2.utils import comm

    rank = machine_rank * num_per_machine + local_rank
    try:
        dist.init_process_group(
            backend="gloo", init_method=dist_url, world_size=world_size, rank=rank, timeout=timeout
        )
    except Exception:
        logging.getLogger(__name__).error("Process group URL: %s", dist_url)
        raise
    _create_local_process_group(num_per_machine, machine_rank)
    comm.synchronize()
    try:
        main_func(*args)
        comm.synchronize()  # no rank tears the group down while another still uses it
    finally:
        # Gloo's worker threads must stop before the interpreter exits; left running,
        # they abort the process ("terminate called without an active exception").
        dist.destroy_process_group()


def launch(
    main_func,
    num_gpus_per_machine,
    num_machines=1,
    machine_rank=0,
    dist_url=None,
    args=(),
    timeout=DEFAULT_TIMEOUT,
):
    """Run ``main_func(*args)`` in ``num_gpus_per_machine * num_machines`` processes.

    Same arguments as ``detectron2.engine.launch``. On a machine without CUDA,
    ``num_gpus_per_machine`` is the number of CPU processes per machine.
    """
    from detectron2.engine import launch as d2_launch

    world_size = num_machines * num_gpus_per_machine
    if world_size <= 1 or torch.cuda.is_available():
        return d2_launch(
            main_func,
            num_gpus_per_machine,
            num_machines=num_machines,
            machine_rank=machine_rank,
            dist_url=dist_url,
            args=args,
            timeout=timeout,
        )
    if dist_url in (None, "auto"):
        if num_machines > 1:
            raise ValueError("--dist-url must be given (tcp://HOST:PORT) for multi-machine jobs")
        from detectron2.engine.launch import _find_free_port

        dist_url = f"tcp://127.0.0.1:{_find_free_port()}"
    mp.spawn(
        _cpu_worker,
        nprocs=num_gpus_per_machine,
        args=(main_func, world_size, num_gpus_per_machine, machine_rank, dist_url, args, timeout),
        daemon=False,
    )
