// Training Idefics2 models on image-text pairs: the JSONL dataset, full training from scratch or
// from a checkpoint, LoRA fine-tuning with adapters in the PEFT layout, and merging adapters
// into a plain model folder. libtorch stays behind this header.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace cephalo::models {

// Bad options or bad data. The message names the option, or the file and line of the record.
class TrainingError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One line of a JSONL file: {"image": "relative/or/absolute.png", "query": ..., "answer": ...,
// "source": ...}. The image path is relative to the JSONL file.
struct TrainingRecord {
  std::filesystem::path image;    // resolved
  std::string query, answer, source;
  std::string where;    // "file:line", for messages
};

// Reads every record; blank lines are skipped. Throws TrainingError naming file:line for a line
// that is not a JSON object, a missing or non-string field, an empty query or answer, or an
// image file that does not exist; and naming the file when it holds no records.
std::vector<TrainingRecord> read_training_records(const std::filesystem::path &jsonl);

struct LoraOptions {
  int rank = 0;    // 0: no LoRA, every weight trains
  double alpha = 16;
  double dropout = 0.0;
  // Hugging Face module names; Cephalo's own recipe adapts the MLP.
  std::vector<std::string> targets = {"gate_proj", "up_proj", "down_proj"};
  // Where: "text" (the decoder), "connector" (modality projection and perceiver), "vision".
  std::vector<std::string> layers = {"text"};
};

struct TrainOptions {
  std::filesystem::path train_file;
  std::filesystem::path eval_file;    // optional: held-out records
  // Start from this model folder, or from random weights of this config.json. The tokenizer and
  // preprocessor files come from `assets_dir`, by default the folder of the model or config.
  std::filesystem::path model_dir, config_file, assets_dir;
  std::filesystem::path out_dir;

  int steps = 0;         // optimizer steps; 0: from epochs
  double epochs = 0;     // passes over the training records when steps is 0
  int batch = 8;         // records per micro-batch
  int accumulate = 1;    // micro-batches per optimizer step
  double lr = 1e-3, min_lr = 0;
  int warmup = 0;                // steps of linear warm-up, then cosine decay to min_lr
  double weight_decay = 0.01;    // AdamW, decoupled; never on norms, biases and other 1-D tensors
  double beta1 = 0.9, beta2 = 0.999, adam_eps = 1e-8;
  double clip = 1.0;    // global gradient norm; 0: no clipping
  // "float32", or "bfloat16": the model computes in bf16 while AdamW keeps fp32 master weights
  // and moments (a frozen LoRA base stays bf16 with no master copy).
  std::string dtype = "float32";
  // dtype of the written model.safetensors ("float32" or "bfloat16"); empty: the training dtype.
  // Checkpoints keep fp32 weights and moments for resuming whatever this is.
  std::string save_dtype;
  std::string device = "cpu";
  double init_std = 0.02;    // random initialisation from a config

  int eval_every = 0;       // steps; 0: only at the end (when there is an eval file)
  int eval_generate = 4;    // eval records answered greedily for the exact-match score
  int max_answer_tokens = 64;
  int save_every = 0;     // steps between checkpoints in out_dir/checkpoints; 0: none
  bool resume = false;    // continue from the latest checkpoint in out_dir/checkpoints
  std::uint64_t seed = 0;
  int threads = 0;         // CPU threads; 0: every core
  bool progress = true;    // the progress bar on stderr
  // Parts kept as they are in full training: any of "vision" (the vision tower), "connector"
  // (modality projection and perceiver resampler) and "text" (embeddings, decoder, lm_head).
  // A decoder trained on a frozen random vision tower first learns to read its features before
  // they may move (a later stage trains everything from that checkpoint).
  std::vector<std::string> freeze;
  // While the vision tower is frozen, each image's encoding is the same at every step: it is
  // computed once and kept, up to this many MiB (on the training device) — the image features
  // where nothing before the decoder trains (vision and connector frozen, or LoRA on the decoder
  // only), else the tower's output, which the connector reads at every step. 0: encode every
  // image at every step.
  int feature_cache_mib = 4096;
  // Records of like length share a micro-batch (sorted within windows of 64 batches of the
  // shuffled epoch, the batches then shuffled): less padding, so faster steps. Where the length
  // tells the kinds of question apart, each batch holds one kind and the steps pull the model
  // from one task to the next (cephalo-tiny read far worse trained so): for data whose lengths
  // vary within each kind.
  bool group_by_length = false;

  LoraOptions lora;
};

struct StepStats {
  int step = 0;       // steps done after this one
  double loss = 0;    // mean cross-entropy over the step's answer tokens
  double lr = 0, grad_norm = 0;
  int samples = 0, tokens = 0;    // records, and tokens of all kinds (images included)
  int padded_tokens = 0;    // the batches' slots: tokens plus padding (attention's, not the MLPs')
  int answer_tokens = 0;
  double seconds = 0;
  double data_seconds = 0;    // of which reading and preprocessing images, batching
  int images_encoded = 0;     // images that went through the vision tower (not from the cache)
};

struct EvalStats {
  int step = 0;
  double loss = 0;    // mean cross-entropy over all eval answer tokens
  int answer_tokens = 0;
  int generated = 0, exact = 0;    // greedy answers and how many equal the reference
  std::vector<std::string> answers;
};

class Trainer {
 public:
  // Checks the options, reads the data, builds or loads the model (and with resume the latest
  // checkpoint: weights, optimizer moments, step). Throws TrainingError, and the loaders' errors.
  explicit Trainer(const TrainOptions &options);
  Trainer(Trainer &&) noexcept;
  Trainer &operator=(Trainer &&) noexcept;
  ~Trainer();

  // One optimizer step: `accumulate` micro-batches, clipping, AdamW at the scheduled rate.
  StepStats step();
  // Loss over the eval records (or `records`), and greedy answers to the first eval_generate.
  EvalStats evaluate();
  EvalStats evaluate(const std::vector<TrainingRecord> &records, int generate);
  // Greedy answers of the in-memory model, as the runtime would give them for the same records.
  std::vector<std::string> answer(const std::vector<TrainingRecord> &records);

  // Trains to the last step with evaluation, checkpoints, the progress bar and the metrics file
  // (out_dir/metrics.jsonl, a JSON line per step and per evaluation), then saves the model.
  void run();

  // The model folder (Hugging Face layout) or, with LoRA, the adapter folder (PEFT layout).
  void save(const std::filesystem::path &dir) const;
  // save() plus optimizer state and trainer_state.json: what resume reads.
  void save_checkpoint(const std::filesystem::path &dir) const;

  int current_step() const;
  int total_steps() const;
  std::int64_t trainable_parameters() const;
  std::string describe() const;

  struct Impl;
  Impl &impl();    // for tests: the model and the optimizer

 private:
  std::unique_ptr<Impl> impl_;
};

// The learning rate of step `step` (0-based) of `total_steps`: linear warm-up from lr / warmup
// to lr over the first `warmup` steps, then cosine decay from lr towards min_lr, reached just
// after the last step (as transformers' cosine schedule with warm-up).
double scheduled_lr(int step, int total_steps, int warmup, double lr, double min_lr);

// Reads a PEFT LoRA adapter (adapter_config.json, adapter_model.safetensors), adds
// alpha / r * B A to the base model's weights and writes a plain model folder in the base's
// dtype, with the base's tokenizer and processor files. Throws TrainingError / FormatError.
void merge_lora(const std::filesystem::path &base_dir, const std::filesystem::path &adapter_dir,
                const std::filesystem::path &out_dir);

}    // namespace cephalo::models
