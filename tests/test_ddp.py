"""Two CPU processes (GLOO) through d2kd.engine.launch: DDP syncs student gradients only."""
import json
import os
import subprocess
import sys
import textwrap

TESTS = os.path.dirname(os.path.abspath(__file__))

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

    def worker(out_dir, teacher_path):
        rank = comm.get_rank()
        teacher = Teacher(model=build_tiny_retinanet(fpn_channels=24), weights=teacher_path)
        before = {{k: v.clone() for k, v in teacher.model.state_dict().items()}}
        model = DistillationDetector(
            student=build_tiny_retinanet(), teachers=teacher,
            distill_losses=[FitNetLoss(in_features=["p3", "p4"])],
        )
        ddp = create_ddp_model(model, device_ids=None, broadcast_buffers=False)
        with EventStorage():
            losses = ddp(synthetic_batch(seed=rank))  # each rank sees other images
        sum(losses.values()).backward()
        grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        gathered = [torch.zeros_like(grads) for _ in range(comm.get_world_size())]
        dist.all_gather(gathered, grads)
        result = dict(
            world_size=comm.get_world_size(),
            local_loss=float(losses["loss_fitnet_p3"]),
            grads_agree=all(torch.allclose(g, gathered[0], atol=1e-6) for g in gathered),
            grad_norm=float(grads.norm()),
            adapter_grad=model.adapters["teacher"]["p3"].weight.grad is not None,
            teacher_grads=[p.grad is not None for p in teacher.parameters()].count(True),
            teacher_unchanged=all(torch.equal(before[k], v) for k, v in teacher.model.state_dict().items()),
            ddp_params=sum(p.numel() for p in ddp.parameters()),
            student_and_distiller_params=sum(p.numel() for p in model.parameters()),
        )
        with open(f"{{out_dir}}/rank{{rank}}.json", "w") as f:
            json.dump(result, f)

    if __name__ == "__main__":
        out_dir = sys.argv[1]
        teacher_path = save_checkpoint(calibrate_batchnorm(build_tiny_retinanet(fpn_channels=24)), out_dir + "/t.pth")
        launch(worker, 2, dist_url="auto", args=(out_dir, teacher_path))
    '''
)


def test_ddp_gradients_agree_across_ranks_and_teacher_is_untouched(tmp_path):
    script = tmp_path / "ddp_worker.py"
    script.write_text(WORKER.format(tests=TESTS))
    proc = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world_size"] == 2 for r in ranks)
    assert ranks[0]["local_loss"] != ranks[1]["local_loss"]  # different data on each rank
    assert all(r["grads_agree"] for r in ranks)  # DDP averaged them
    assert ranks[0]["grad_norm"] == ranks[1]["grad_norm"] > 0
    assert all(r["adapter_grad"] and r["teacher_grads"] == 0 and r["teacher_unchanged"] for r in ranks)
    assert all(r["ddp_params"] == r["student_and_distiller_params"] for r in ranks)
