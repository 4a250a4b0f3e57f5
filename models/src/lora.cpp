// LoRA adapters: selection by Hugging Face module names, fresh adapters for training, the PEFT
// files, and merging into the base weights.
#include "lora.h"

#include "cephalo/models/safetensors.h"
#include "cephalo/models/training.h"
#include "tensor_io.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <regex>
#include <set>

namespace cephalo::models {
namespace fs = std::filesystem;
namespace {

const std::vector<std::string> kGroups = {"text", "connector", "vision"};

std::string last_name(const std::string &module)
{
  return module.substr(module.rfind('.') + 1);
}

std::string join(const std::vector<std::string> &items, const std::string &separator)
{
  std::string out;
  for (const auto &item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

// The adapter blocks of every selected module, created by `make` (rows, in) -> (a, b).
std::vector<LoraModule>
attach(Idefics2Model &model, const LoraSpec &spec,
       const std::function<std::pair<torch::Tensor, torch::Tensor>(
           const std::string &module, std::int64_t rows, std::int64_t in)> &make)
{
  std::vector<LoraModule> modules;
  for (auto &projection : model.adaptable_projections()) {
    Linear &linear = *projection.linear;
    std::int64_t offset = 0;
    for (const auto &[module, rows] : projection.modules) {
      if (spec.selects(module, projection.group)) {
        auto [a, b] = make(module, rows, linear.weight.size(1));
        linear.lora.blocks.push_back({module, offset, rows, a, b});
        linear.lora.scale = spec.scale();
        linear.lora.dropout = spec.dropout;
      }
      offset += rows;
    }
  }
  // pointers into the blocks once every vector has its final size
  for (auto &projection : model.adaptable_projections())
    for (auto &block : projection.linear->lora.blocks) modules.push_back({block.module, &block});
  return modules;
}

}    // namespace

double LoraSpec::scale() const
{
  return rslora ? alpha / std::sqrt(static_cast<double>(rank)) : alpha / rank;
}

const std::vector<std::string> &lora_target_names()
{
  static const std::vector<std::string> names = {"q_proj",    "k_proj",  "v_proj",    "o_proj",
                                                 "gate_proj", "up_proj", "down_proj", "out_proj",
                                                 "fc1",       "fc2"};
  return names;
}

std::string lora_a_name(const std::string &module)
{
  return "base_model.model." + module + ".lora_A.weight";
}

std::string lora_b_name(const std::string &module)
{
  return "base_model.model." + module + ".lora_B.weight";
}

LoraSpec lora_spec(int rank, double alpha, double dropout, const std::vector<std::string> &targets,
                   const std::vector<std::string> &layers, const std::string &base_model)
{
  if (rank < 1) throw TrainingError("LoRA rank " + std::to_string(rank) + ": must be at least 1");
  if (!(alpha > 0)) throw TrainingError("LoRA alpha must be positive");
  if (!(dropout >= 0 && dropout < 1)) throw TrainingError("LoRA dropout must be in [0, 1)");
  if (targets.empty()) throw TrainingError("no LoRA target modules");
  if (layers.empty()) throw TrainingError("no LoRA layer groups");
  const auto &known = lora_target_names();
  for (const auto &target : targets)
    if (std::find(known.begin(), known.end(), target) == known.end())
      throw TrainingError("LoRA target '" + target + "': expected one of " + join(known, ", "));
  for (const auto &group : layers)
    if (std::find(kGroups.begin(), kGroups.end(), group) == kGroups.end())
      throw TrainingError("LoRA layers '" + group + "': expected text, connector or vision");
  LoraSpec spec;
  spec.rank = rank;
  spec.alpha = alpha;
  spec.dropout = dropout;
  spec.base_model = base_model;
  const std::set<std::string> names(targets.begin(), targets.end());
  const std::set<std::string> groups(layers.begin(), layers.end());
  spec.selects = [names, groups](const std::string &module, const std::string &group) {
    return groups.count(group) && names.count(last_name(module));
  };
  // PEFT matches a string target_modules in full against module names: the same selection
  std::vector<std::string> prefixes;
  if (groups.count("text")) prefixes.push_back(R"(model\.text_model\.layers\.\d+)");
  if (groups.count("connector")) prefixes.push_back(R"(model\.connector)");
  if (groups.count("vision")) prefixes.push_back(R"(model\.vision_model)");
  spec.target_modules = "(?:" + join(prefixes, "|") + R"()\.(?:.*\.)?(?:)" +
                        join(std::vector<std::string>(names.begin(), names.end()), "|") + ")";
  return spec;
}

std::vector<LoraModule> attach_lora(Idefics2Model &model, const LoraSpec &spec)
{
  const auto options = model.options();
  auto modules = attach(model, spec, [&](const std::string &, std::int64_t rows, std::int64_t in) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    auto a = (torch::rand({spec.rank, in}, torch::kFloat32) * (2 * bound) - bound).to(options);
    return std::make_pair(a, torch::zeros({rows, spec.rank}, options));
  });
  if (modules.empty())
    throw TrainingError("the LoRA targets " + spec.target_modules +
                        " match no module of the model");
  return modules;
}

std::vector<LoraModule> load_lora(Idefics2Model &model, const fs::path &dir)
{
  const fs::path config_file = dir / "adapter_config.json";
  nlohmann::json config;
  {
    std::ifstream in(config_file);
    if (!in) throw TrainingError(config_file.string() + ": cannot be opened");
    try {
      config = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception &e) {
      throw TrainingError(config_file.string() + ": not valid JSON (" + e.what() + ")");
    }
  }
  const auto field = [&](const char *key) -> const nlohmann::json & {
    const auto it = config.find(key);
    if (it == config.end() || it->is_null())
      throw TrainingError(config_file.string() + ": no " + key);
    return *it;
  };
  if (field("peft_type") != "LORA")
    throw TrainingError(config_file.string() + ": peft_type is " + field("peft_type").dump() +
                        ", expected \"LORA\"");
  LoraSpec spec;
  try {
    spec.rank = field("r").get<int>();
    spec.alpha = field("lora_alpha").get<double>();
    spec.rslora = config.value("use_rslora", false);
    const auto &targets = field("target_modules");
    if (targets.is_string()) {
      spec.target_modules = targets.get<std::string>();
      const std::regex pattern(spec.target_modules);
      spec.selects = [pattern](const std::string &module, const std::string &) {
        return std::regex_match(module, pattern);
      };
    } else {
      const auto names = targets.get<std::vector<std::string>>();
      spec.selects = [names](const std::string &module, const std::string &) {
        for (const auto &name : names)    // PEFT: the name, or a suffix after a dot
          if (module == name ||
              (module.size() > name.size() &&
               module.compare(module.size() - name.size(), name.size(), name) == 0 &&
               module[module.size() - name.size() - 1] == '.'))
            return true;
        return false;
      };
    }
  } catch (const nlohmann::json::exception &e) {
    throw TrainingError(config_file.string() + ": " + e.what());
  } catch (const std::regex_error &e) {
    throw TrainingError(config_file.string() + ": target_modules is not a valid regex (" +
                        e.what() + ")");
  }
  if (spec.rank < 1) throw TrainingError(config_file.string() + ": r must be at least 1");

  const auto file = SafetensorsFile::open(dir / "adapter_model.safetensors");
  std::set<std::string> used;
  std::vector<std::string> misshaped, missing;
  const auto options = model.options();
  const auto take = [&](const std::string &name, std::vector<std::int64_t> shape) {
    const TensorInfo *info = file.find(name);
    if (!info) {
      missing.push_back("missing tensor '" + name + "'");
      return torch::zeros(shape, options);
    }
    used.insert(name);
    if (info->shape != shape) {
      misshaped.push_back("tensor '" + name + "' has shape " + shape_text(info->shape) +
                          ", expected " + shape_text(shape));
      return torch::zeros(shape, options);
    }
    return tensor_view(file, *info).to(options, false, true);
  };
  auto modules =
      attach(model, spec, [&](const std::string &module, std::int64_t rows, std::int64_t in) {
        auto a = take(lora_a_name(module), {spec.rank, in});
        auto b = take(lora_b_name(module), {rows, spec.rank});
        return std::make_pair(a, b);
      });
  // the most telling first: wrong shapes, tensors of no target, then what is missing
  std::vector<std::string> problems = misshaped;
  for (const auto &info : file.tensors())
    if (!used.count(info.name))
      problems.push_back(
          "unexpected tensor '" + info.name +
          "' (its module is not a target of adapter_config.json or not in the model)");
  if (modules.empty()) problems.push_back("target_modules match no module of the model");
  problems.insert(problems.end(), missing.begin(), missing.end());
  if (!problems.empty()) {
    std::string message = file.path().string() + ": the adapter does not fit the model:";
    for (std::size_t i = 0; i < problems.size() && i < 12; ++i) message += "\n  " + problems[i];
    if (problems.size() > 12)
      message += "\n  ... and " + std::to_string(problems.size() - 12) + " more";
    throw FormatError(message);
  }
  return modules;
}

void save_lora(const std::vector<LoraModule> &modules, const LoraSpec &spec, const fs::path &dir)
{
  fs::create_directories(dir);
  std::vector<torch::Tensor> keep;
  std::vector<TensorBytes> tensors;
  {
    torch::NoGradGuard no_grad;
    for (const auto &m : modules)
      for (const auto &[name, tensor] : {std::make_pair(lora_a_name(m.module), m.block->a),
                                         std::make_pair(lora_b_name(m.module), m.block->b)}) {
        keep.push_back(tensor.detach().to(torch::kCPU).to(torch::kFloat32).contiguous());
        tensors.push_back({name, DType::F32, keep.back().sizes().vec(), keep.back().data_ptr()});
      }
  }
  write_safetensors(dir / "adapter_model.safetensors", tensors, {{"format", "pt"}});
  const nlohmann::json config = {{"peft_type", "LORA"},
                                 {"task_type", nullptr},
                                 {"r", spec.rank},
                                 {"lora_alpha", spec.alpha},
                                 {"lora_dropout", spec.dropout},
                                 {"use_rslora", spec.rslora},
                                 {"target_modules", spec.target_modules},
                                 {"base_model_name_or_path", spec.base_model},
                                 {"bias", "none"},
                                 {"fan_in_fan_out", false},
                                 {"inference_mode", true},
                                 {"init_lora_weights", true},
                                 {"modules_to_save", nullptr},
                                 {"layers_to_transform", nullptr},
                                 {"revision", nullptr}};
  std::ofstream(dir / "adapter_config.json") << config.dump(2) << "\n";
}

void merge_lora_into(Idefics2Model &model)
{
  torch::NoGradGuard no_grad;
  for (auto &projection : model.adaptable_projections()) {
    auto &lora = projection.linear->lora;
    for (const auto &block : lora.blocks) {
      auto rows = projection.linear->weight.narrow(0, block.offset, block.rows);
      const auto delta =
          torch::mm(block.b.to(torch::kFloat32), block.a.to(torch::kFloat32)) * lora.scale;
      rows.copy_(rows.to(torch::kFloat32) + delta);
    }
    lora.blocks.clear();
  }
}

}    // namespace cephalo::models
