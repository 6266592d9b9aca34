"""Two CPU processes (GLOO) through d2kd.engine.launch: DDP syncs student gradients only,
and SGD steps keep the replicas identical while the teacher stays untouched."""
import json
import os
import subprocess
import sys
import textwrap

TESTS = os.path.dirname(os.path.abspath(__file__))
STEPS = 3

WORKER = textwrap.dedent(
    '''
    import json, sys
    import torch
    import torch.distributed as dist
    sys.path.insert(0, {tests!r})
    from conftest import build_tiny_retinanet, calibrate_batchnorm, save_checkpoint, synthetic_batch
    from d2kd.engine.launch import launch
    from d2kd.losses import FitNetLoss
    from d2kd.modeling import DistillationDetector, Teacher
    from detectron2.engine.defaults import create_ddp_model
    from detectron2.utils import comm
    from detectron2.utils.events import EventStorage

    def gather(x):
        out = [torch.zeros_like(x) for _ in range(comm.get_world_size())]
        dist.all_gather(out, x)
        return out

    def flat(tensors):
        return torch.cat([t.detach().flatten() for t in tensors])

    def worker(out_dir, teacher_path, steps):
        rank = comm.get_rank()
        teacher = Teacher(model=build_tiny_retinanet(fpn_channels=24), weights=teacher_path)
        saved = torch.load(teacher_path, weights_only=True)["model"]
        model = DistillationDetector(
            student=build_tiny_retinanet(), teachers=teacher,
            distill_losses=[FitNetLoss(in_features=["p3", "p4"])],
        )
        ddp = create_ddp_model(model, device_ids=None, broadcast_buffers=False)
        initial = flat(model.parameters()).clone()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        result = dict(
            world_size=comm.get_world_size(),
            initial_params_agree=all(torch.equal(p, initial) for p in gather(initial)),
            local_losses=[], grads_agree=[], grad_checksums=[], params_with_grad=[],
        )
        for step in range(steps):
            with EventStorage(step):  # each rank sees other images
                losses = ddp(synthetic_batch(num_images=1, seed=10 * step + rank))
            optimizer.zero_grad()
            sum(losses.values()).backward()
            with_grad = [p for p in model.parameters() if p.grad is not None]
            grads = flat(p.grad for p in with_grad)
            checksum = grads.double().sum().reshape(1)
            result["local_losses"].append(float(losses["loss_fitnet_p3"]))
            result["grads_agree"].append(all(torch.equal(g, grads) for g in gather(grads)))
            result["grad_checksums"].append([float(c) for c in gather(checksum)])
            result["params_with_grad"].append(len(with_grad))
            if step == 0:
                result["grad_norm"] = float(grads.norm())
                result["adapter_grad"] = model.adapters["teacher"]["p3"].weight.grad is not None
            optimizer.step()
        params = flat(model.parameters())
        state = teacher.model.state_dict()
        result.update(
            params_agree=all(torch.equal(p, params) for p in gather(params)),
            params_moved=float((params - initial).abs().max()),
            num_params=len(list(model.parameters())),
            teacher_grads=[p.grad is not None for p in teacher.parameters()].count(True),
            teacher_unchanged=set(state) == set(saved)
            and all(torch.equal(saved[k], v) for k, v in state.items()),
            ddp_params=sum(p.numel() for p in ddp.parameters()),
            student_and_distiller_params=sum(p.numel() for p in model.parameters()),
        )
        with open(f"{{out_dir}}/rank{{rank}}.json", "w") as f:
            json.dump(result, f)

    if __name__ == "__main__":
        out_dir, steps = sys.argv[1], int(sys.argv[2])
        teacher = calibrate_batchnorm(build_tiny_retinanet(fpn_channels=24))
        teacher_path = save_checkpoint(teacher, out_dir + "/t.pth")
        launch(worker, 2, dist_url="auto", args=(out_dir, teacher_path, steps))
    '''
)


def test_ddp_sgd_steps_keep_ranks_identical_and_teacher_untouched(tmp_path):
    script = tmp_path / "ddp_worker.py"
    script.write_text(WORKER.format(tests=TESTS))
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path), str(STEPS)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world_size"] == 2 for r in ranks)
    assert all(r["initial_params_agree"] for r in ranks)
    assert all(len(r["local_losses"]) == STEPS for r in ranks)
    for step in range(STEPS):
        # different data on each rank, yet the same (averaged) gradients after backward
        assert ranks[0]["local_losses"][step] != ranks[1]["local_losses"][step], step
        assert all(r["grads_agree"][step] for r in ranks), step
        rank0_sum, rank1_sum = ranks[0]["grad_checksums"][step]
        assert rank0_sum == rank1_sum != 0.0, step
        assert ranks[1]["grad_checksums"][step] == ranks[0]["grad_checksums"][step]
        # every student and distiller parameter took part in the step
        assert ranks[0]["params_with_grad"][step] == ranks[0]["num_params"], step
    # successive steps saw other batches and moved weights: the checksums change
    assert len({c[0] for c in ranks[0]["grad_checksums"]}) == STEPS
    assert ranks[0]["grad_norm"] == ranks[1]["grad_norm"] > 0
    # after three SGD steps the replicas are still bitwise identical, and they did move
    assert all(r["params_agree"] for r in ranks)
    assert ranks[0]["params_moved"] == ranks[1]["params_moved"] > 0
    assert all(r["adapter_grad"] and r["teacher_grads"] == 0 and r["teacher_unchanged"] for r in ranks)
    assert all(r["ddp_params"] == r["student_and_distiller_params"] for r in ranks)
