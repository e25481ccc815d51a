"""Synthetic Kineto traces with known intervals (µs), shaped like torch.profiler's Chrome trace export."""

MAIN = (1, 1)
STREAM = (0, 7)
WINDOW = 100.0


def x(name, cat, ts, dur, thread=MAIN, **args):
    return {"ph": "X", "cat": cat, "name": name, "pid": thread[0], "tid": thread[1], "ts": ts, "dur": dur,
            "args": args}


def _step(w):
    """One step of 100 µs starting at ``w * 100``: the backward of step w-1's forward, the optimizer, then
    step w's forward (Lightning's step boundary is at the end of training_step)."""
    b = w * WINDOW
    seq = {"embedding": 10 * w + 1, "lstm": 10 * w + 2, "loss": 10 * w + 3}
    prev = {k: v - 10 for k, v in seq.items()}
    return [
        x(f"ProfilerStep#{w}", "user_annotation", b, WINDOW),
        x("[pl][profile][_TrainingEpochLoop].train_dataloader_next", "user_annotation", b, 5),
        x("[pl][profile][Strategy]SingleDeviceStrategy.batch_to_device", "user_annotation", b + 5, 5),
        x("aten::to", "cpu_op", b + 6, 3),
        x("Optimizer.step#Adam.step", "user_annotation", b + 10, 80),
        x("[pl][profile][Strategy]SingleDeviceStrategy.backward", "user_annotation", b + 10, 30),
        x("autograd::engine::evaluate_function: EmbeddingBackward0", "cpu_op", b + 12, 10,
          **{"Sequence number": prev["embedding"]}),
        x("aten::embedding_dense_backward", "cpu_op", b + 13, 8),
        x("autograd::engine::evaluate_function: MkldnnRnnLayerBackward0", "cpu_op", b + 22, 16,
          **{"Sequence number": prev["lstm"]}),
        x("aten::addcdiv_", "cpu_op", b + 40, 20),
        x("aten::lerp_", "cpu_op", b + 60, 5),
        # Lightning's closure scales the loss under grad mode: a sequence number, inside the optimizer's step.
        x("aten::div", "cpu_op", b + 65, 2, **{"Sequence number": 10 * w + 9}),
        x("[pl][profile][Strategy]SingleDeviceStrategy.training_step", "user_annotation", b + 70, 20),
        x("[pl][module]torch.nn.modules.sparse.Embedding: model.embedding", "user_annotation", b + 71, 4),
        x("aten::embedding", "cpu_op", b + 71.5, 3, **{"Sequence number": seq["embedding"]}),
        x("[pl][module]torch.nn.modules.rnn.LSTM: model.lstm", "user_annotation", b + 75, 10),
        x("aten::lstm", "cpu_op", b + 75, 10, **{"Sequence number": seq["lstm"]}),
        x("aten::cross_entropy_loss", "cpu_op", b + 85, 4, **{"Sequence number": seq["loss"]}),
        # b + 90 .. b + 100: the loop between annotations ("other").
    ]


def training_trace(steps=3):
    """A lead-in step and ``steps - 1`` analysed ones; per analysed step (µs): data 5, copies 5, embedding 4,
    LSTM 10, loss 8, embedding backward 10, LSTM backward 16, backward other 4, optimizer 28 (25 of it the
    element-wise update), other 10."""
    events = [e for w in range(steps) for e in _step(w)]
    events.append({"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "python"}})
    return {"schemaVersion": 1, "traceEvents": events}


def gpu_trace(steps=3, *, busy=False):
    """Device activity per 100 µs step ``b``: kernel [b+10, b+30) queued at b, copy [b+30, b+40) queued at
    b+25, kernel [b+60, b+70) queued at b+50. Idle 60 µs: [b, b+10) queued (other), [b+40, b+60) half
    before its launch (host wait 10, other 10), [b+70, b+100) with nothing queued (host wait 30).

    With ``busy`` a third kernel [b+70, b+95), queued at b+40, makes the device busy 65% of each step.
    """
    events = []
    for w in range(steps):
        b = w * WINDOW
        events.append(x(f"ProfilerStep#{w}", "user_annotation", b, WINDOW))
        events.append(x("[pl][module]torch.nn.modules.rnn.LSTM: model.lstm", "user_annotation", b, 60))
        work = [("kernel", "lstm_kernel", b, b + 10, 20), ("gpu_memcpy", "Memcpy HtoD (Pageable -> Device)",
                                                          b + 25, b + 30, 10),
                ("kernel", "lstm_kernel", b + 50, b + 60, 10)]
        if busy:
            work.append(("kernel", "adam_kernel", b + 40, b + 70, 25))
        for n, (cat, name, queued, start, dur) in enumerate(work):
            correlation = 100 * w + n
            events.append(x("cudaLaunchKernel", "cuda_runtime", queued, 1, correlation=correlation))
            events.append(x(name, cat, start, dur, STREAM, correlation=correlation, stream=7, device=0))
    return {"traceEvents": events}
