#!/usr/bin/env python3
"""Hugging Face transformers on the configuration and inputs of bench_models, on the same GPU,
for the comparison table of the README: random bf16 weights, one image and a text prompt per
sequence, greedy decoding.

    python3 bench_models_hf.py --config models/configs/idefics2-8b.json --batch 1,8
"""
import argparse
import time

import torch
import transformers
from transformers import Idefics2Config, Idefics2ForConditionalGeneration


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--batch", default="1")
    parser.add_argument("--prompt", type=int, default=128)
    parser.add_argument("--image", type=int, default=378)
    parser.add_argument("--steps", type=int, default=64)
    args = parser.parse_args()

    config = Idefics2Config.from_json_file(args.config)
    torch.manual_seed(1)
    with torch.device("cuda"):
        model = Idefics2ForConditionalGeneration(config).to(torch.bfloat16).eval()
    n_lat = config.perceiver_config.resampler_n_latents
    print(f"# transformers {transformers.__version__}, torch {torch.__version__}, "
          f"{torch.cuda.get_device_name()}, attention {model.config._attn_implementation}")
    print("| batch | prompt tokens | image | prefill tok/s | TTFT ms | decode tok/s | decode steps/s | peak GiB |")
    print("|---|---|---|---|---|---|---|---|")
    for batch in [int(b) for b in args.batch.split(",")]:
        row = [config.text_config.bos_token_id, 3] + [config.image_token_id] * n_lat + [3]
        row += [10 + (k * 31) % 1000 for k in range(args.prompt)]
        ids = torch.tensor([row] * batch, device="cuda")
        pixels = (torch.rand(batch, 1, 3, args.image, args.image, device="cuda") * 2 - 1).to(torch.bfloat16)
        mask = torch.ones(batch, 1, args.image, args.image, dtype=torch.bool, device="cuda")
        inputs = dict(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=pixels,
                      pixel_attention_mask=mask, do_sample=False)

        def timed(new_tokens):
            torch.cuda.synchronize()
            start = time.perf_counter()
            with torch.no_grad():
                model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens)
            torch.cuda.synchronize()
            return time.perf_counter() - start

        timed(4)  # warm-up
        torch.cuda.reset_peak_memory_stats()
        ttft = min(timed(1) for _ in range(2))
        total = timed(args.steps + 1)
        steps_per_s = args.steps / (total - ttft)
        print(f"| {batch} | {len(row)} | {args.image}px | {batch * len(row) / ttft:.0f} | {ttft * 1e3:.1f} | "
              f"{batch * steps_per_s:.1f} | {steps_per_s:.1f} | "
              f"{torch.cuda.max_memory_allocated() / 2**30:.2f} |", flush=True)


if __name__ == "__main__":
    main()
