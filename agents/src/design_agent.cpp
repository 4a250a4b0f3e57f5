// The design loop (design_agent.h): a spec from the model or the interpreter, then check, build,
// preview, critique and revise for a bounded number of rounds, every step written to the trace.
#include "cephalo/agents/design_agent.h"

#include "model_prompts.h"
#include "spec_revision.h"

#include "cephalo/bridge/client.h"
#include "cephalo/meshing/preview.h"

#include <nlohmann/json.hpp>

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>

namespace cephalo::agents {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start)
{
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string read_bytes(const fs::path &path)
{
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  return std::string(std::istreambuf_iterator<char>(in), {});
}

json spec_json(const meshing::DesignSpec &spec)
{
  return json::parse(meshing::design_spec_to_json(spec));
}

// The build report without the spec it repeats.
json part_summary(const meshing::DesignSpec &spec, const meshing::BuiltPart &part)
{
  json report = json::parse(meshing::build_report_json(spec, part));
  report.erase("spec");
  return report;
}

// The first JSON object of a model's answer: the server's `fields` when it parsed one.
json answer_object(const bridge::Reply &reply)
{
  const auto fields = reply.body.find("fields");
  if (fields != reply.body.end() && fields->is_object() && !fields->empty()) return *fields;
  return bridge::first_json_object(reply.text());
}

}    // namespace

struct DesignAgent::Impl {
  DesignOptions options;
  std::shared_ptr<json> trace = std::make_shared<json>(json::object());
  Clock::time_point started;
  std::unique_ptr<bridge::Client> client;
  fs::path made_dir;    // a temporary work folder this agent made (removed with it)
  int calls = 0;
  // what the server said about itself in this call's probe
  bool model_alive = false;
  std::size_t max_prompt_chars = 32768;
  int max_new_tokens = 1024;

  explicit Impl(DesignOptions o) : options(std::move(o)) {}
  ~Impl()
  {
    std::error_code ignored;    // a folder that cannot be removed is left, not an error
    if (!made_dir.empty()) fs::remove_all(made_dir, ignored);
  }

  // ---- the trace
  std::size_t begin_step(const std::string &name, json inputs, int round = 0)
  {
    json entry = {{"step", name}, {"at_ms", ms_since(started)}};
    if (round > 0) entry["round"] = round;
    entry["inputs"] = std::move(inputs);
    auto &steps = (*trace)["steps"];
    steps.push_back(std::move(entry));
    if (options.progress) options.progress(name, round > 0 ? "round " + std::to_string(round) : "");
    return steps.size() - 1;
  }
  void end_step(std::size_t index, json outputs, const std::string &error = {})
  {
    json &entry = (*trace)["steps"][index];
    entry["outputs"] = std::move(outputs);
    if (!error.empty()) entry["error"] = error;
    entry["ms"] = ms_since(started) - entry["at_ms"].get<double>();
    if (!error.empty() && options.progress)
      options.progress(entry["step"].get<std::string>(), "failed: " + error);
  }
  bool stopped() const { return options.should_stop && options.should_stop(); }

  void start(json input)
  {
    ++calls;
    started = Clock::now();
    model_alive = false;
    trace = std::make_shared<json>(json::object());
    (*trace)["input"] = std::move(input);
    (*trace)["options"] = {{"endpoint", options.endpoint},
                           {"rounds", options.rounds},
                           {"spec_retries", options.spec_retries},
                           {"critique", options.critique},
                           {"model_timeout_ms", options.model_timeout_ms}};
    (*trace)["steps"] = json::array();
  }
  void finish(DesignResult &result)
  {
    json &t = *trace;
    t["ok"] = result.ok();
    t["spec_source"] = result.spec_source;
    if (!result.fallback.empty()) t["fallback"] = result.fallback;
    if (!result.description.empty()) t["description"] = result.description;
    t["rounds"] = result.rounds;
    t["revisions"] = result.revisions;
    t["problems"] = result.problems;
    if (!result.spec.layers.empty()) t["spec"] = spec_json(result.spec);
    if (result.part) t["report"] = part_summary(result.spec, *result.part);
    if (!result.preview.empty()) t["preview"] = result.preview.string();
    t["total_ms"] = ms_since(started);
    result.trace = trace;
  }
  // Runs `body`; an exception leaves its message in the trace before it goes on.
  template <class F> DesignResult traced(F &&body)
  {
    try {
      return body();
    } catch (const std::exception &e) {
      (*trace)["ok"] = false;
      (*trace)["error"] = e.what();
      (*trace)["total_ms"] = ms_since(started);
      throw;
    }
  }

  fs::path work_dir()
  {
    if (!options.work_dir.empty()) {
      fs::create_directories(options.work_dir);
      return options.work_dir;
    }
    if (made_dir.empty()) {
      std::string pattern = (fs::temp_directory_path() / "cephalo-design-XXXXXX").string();
      if (!mkdtemp(pattern.data()))
        throw std::runtime_error("cannot make a temporary folder in " +
                                 fs::temp_directory_path().string());
      made_dir = pattern;
    }
    return made_dir;
  }

  // ---- the model
  bridge::Reply call_model(bridge::Request request)
  {
    if (!client) {
      bridge::ClientOptions c;
      c.endpoint = options.endpoint;
      c.curve_server_key = options.curve_server_key;
      c.curve_public_key = options.curve_public_key;
      c.curve_secret_key = options.curve_secret_key;
      client = std::make_unique<bridge::Client>(c);
    }
    request.deadline_ms = std::max(1, request.deadline_ms);
    return client->call(std::move(request));
  }

  // An `info` request: is the server there, and what are its limits? A server answers info at
  // once from its I/O thread, so a short deadline tells a dead one quickly.
  bool probe(std::string &why)
  {
    bridge::Request r;
    r.type = bridge::RequestType::Info;
    r.deadline_ms = std::min(options.model_timeout_ms, 5000);
    const auto step = begin_step("probe", {{"endpoint", options.endpoint}});
    const bridge::Reply reply = call_model(r);
    if (!reply.ok()) {
      why = "the model server " + options.endpoint + " did not answer (" + reply.error_code + ": " +
            reply.error_message + ")";
      end_step(step, json::object(), reply.error_code + ": " + reply.error_message);
      return false;
    }
    const json &limits = reply.body.contains("limits") ? reply.body["limits"] : json::object();
    max_prompt_chars = limits.value("max_prompt_chars", max_prompt_chars);
    max_new_tokens = std::min(1024, limits.value("max_new_tokens", max_new_tokens));
    end_step(step, {{"model", reply.body.value("model", "")},
                    {"backend", reply.body.value("backend", "")},
                    {"max_prompt_chars", max_prompt_chars},
                    {"max_new_tokens", max_new_tokens}});
    model_alive = true;
    return true;
  }

  // Asks for a spec until one passes parse_design_spec and check_printable_spec, feeding each
  // refusal back; at most spec_retries re-asks. `failure` says why when none did.
  std::optional<meshing::DesignSpec> spec_from_model(const std::string &step_name,
                                                     const std::string &base_prompt, int round,
                                                     std::string &failure)
  {
    // room for the longest re-ask: the request, a refused answer (4000) and its refusal
    const std::size_t prompt_room = base_prompt.size() + 5000;
    const std::string system = detail::spec_system_prompt(
        max_prompt_chars > prompt_room ? max_prompt_chars - prompt_room : 0);
    std::string prompt = base_prompt, error;
    const int attempts = 1 + std::max(0, options.spec_retries);
    for (int attempt = 1; attempt <= attempts; ++attempt) {
      if (stopped()) {
        failure = "stopped before the model answered";
        return std::nullopt;
      }
      bridge::Request r;
      r.type = bridge::RequestType::Generate;
      r.system = system;
      r.prompt = prompt;
      r.params.json_fields = true;
      r.params.max_new_tokens = max_new_tokens;
      r.deadline_ms = options.model_timeout_ms;
      const auto step = begin_step(
          step_name, {{"attempt", attempt}, {"prompt", prompt}, {"system_chars", system.size()}},
          round);
      const bridge::Reply reply = call_model(r);
      if (!reply.ok()) {
        end_step(step, json::object(), reply.error_code + ": " + reply.error_message);
        failure =
            "the model server answered " + reply.error_code + " (" + reply.error_message + ")";
        if (reply.error_code == "unreachable") model_alive = false;
        return std::nullopt;
      }
      const std::string answer = reply.text();
      json outputs = {{"answer", answer},
                      {"finish_reason", reply.body.value("finish_reason", "")},
                      {"tokens", reply.body.value("tokens", 0)},
                      {"model_ms", reply.timing().total_ms}};
      const json object = answer_object(reply);
      std::optional<meshing::DesignSpec> spec;
      if (object.empty()) {
        error = "the answer holds no JSON object";
      } else {
        try {
          spec = meshing::parse_design_spec(object.dump());
          meshing::check_printable_spec(*spec);
        } catch (const meshing::SpecError &e) {
          error = e.what();
          spec.reset();
        }
      }
      if (spec) {
        outputs["spec"] = object;
        end_step(step, std::move(outputs));
        return spec;
      }
      end_step(step, std::move(outputs), error);
      prompt = detail::spec_retry_prompt(base_prompt, answer, error);
    }
    failure = "the model gave no valid spec in " + std::to_string(attempts) +
              " answer(s); the last was refused: " + error;
    return std::nullopt;
  }

  // The spec for a text: the model's when it gives a valid one, the interpreter's otherwise.
  meshing::DesignSpec spec_for_text(const std::string &text, DesignResult &result)
  {
    if (!options.endpoint.empty() && options.model_spec) {
      std::string why;
      if (model_alive || probe(why)) {
        if (auto spec = spec_from_model("model_spec", detail::spec_prompt(text), 0, why)) {
          result.spec_source = "model";
          return *spec;
        }
      }
      result.fallback = why;
      const auto step = begin_step("fallback", {{"reason", why}});
      end_step(step, {{"to", "interpreter"}});
    }
    const auto step = begin_step("interpret", {{"text", text}});
    Interpretation interpretation;
    try {
      interpretation = interpret_design(text);
    } catch (const InterpretError &e) {
      end_step(step, json::object(), e.what());
      if (result.fallback.empty()) throw;
      throw InterpretError(std::string(e.what()) +
                           " (the model gave no spec either: " + result.fallback + ")");
    }
    end_step(step, interpretation_to_json(interpretation));
    result.spec_source = "interpreter";
    result.understood = interpretation.understood;
    result.assumed = interpretation.assumed;
    result.unused = interpretation.unused;
    return interpretation.spec;
  }

  // A revision by rule, recorded; false when none is known.
  bool revise(std::optional<detail::Revision> revision, const std::string &error,
              meshing::DesignSpec &spec, int round, DesignResult &result)
  {
    const auto step = begin_step("revise", {{"error", error}}, round);
    if (!revision) {
      end_step(step, json::object(), "no revision is known for this error");
      return false;
    }
    if (round >= options.rounds) {
      end_step(step, {{"field", revision->field}, {"change", revision->change}},
               "no round is left to build the revision");
      return false;
    }
    end_step(step, {{"field", revision->field},
                    {"change", revision->change},
                    {"spec", spec_json(revision->spec)}});
    result.revisions.push_back(revision->change);
    spec = std::move(revision->spec);
    return true;
  }

  // The model's verdict on a preview, normalised to {score, approve, problems, suggestion};
  // nothing when it gave none.
  std::optional<json> critique(const std::string &text, const meshing::DesignSpec &spec,
                               const fs::path &png, int round)
  {
    bridge::Request r;
    r.type = bridge::RequestType::Describe;
    r.prompt = detail::critique_prompt(text.empty() ? spec.name : text, spec_json(spec).dump());
    r.images = {read_bytes(png)};
    r.params.json_fields = true;
    r.params.max_new_tokens = std::min(max_new_tokens, 512);
    r.deadline_ms = options.model_timeout_ms;
    const auto step =
        begin_step("critique", {{"prompt", r.prompt}, {"image", png.string()}}, round);
    const bridge::Reply reply = call_model(r);
    if (!reply.ok()) {
      end_step(step, json::object(), reply.error_code + ": " + reply.error_message);
      return std::nullopt;
    }
    const json object = answer_object(reply);
    json outputs = {{"answer", reply.text()}};
    const auto score = object.find("score");
    const auto approve = object.find("approve");
    const bool has_score = score != object.end() && score->is_number();
    const bool has_approve = approve != object.end() && approve->is_boolean();
    if (!has_score && !has_approve) {
      end_step(step, std::move(outputs),
               "the answer holds no verdict (a JSON object with score or approve)");
      return std::nullopt;
    }
    json verdict;
    verdict["score"] = has_score ? std::clamp(score->get<double>(), 0.0, 10.0) : 0.0;
    verdict["approve"] = has_approve ? approve->get<bool>() : verdict["score"].get<double>() >= 7.0;
    verdict["problems"] = object.contains("problems") && object["problems"].is_array()
                              ? object["problems"]
                              : json::array();
    verdict["suggestion"] = object.value("suggestion", "");
    outputs["verdict"] = verdict;
    end_step(step, std::move(outputs));
    return verdict;
  }

  // build -> check -> preview -> (critique -> revise), at most `rounds` rounds.
  void run_loop(const std::string &text, meshing::DesignSpec spec, DesignResult &result)
  {
    struct Kept {
      meshing::DesignSpec spec;
      meshing::BuiltPart part;
      fs::path preview;
      double score = -1.0;
    };
    std::optional<Kept> best;
    std::vector<std::string> problems;
    // a spec the printer check or the build refuses: the step fails with the field it names,
    // and the spec is revised by rule (false when no rule applies)
    const auto revise_after = [&](const meshing::SpecError &e, auto &step, int round) {
      end_step(step, {{"field", e.field()}}, e.what());
      problems = {e.what()};
      return revise(detail::revise_for_spec_error(spec, e.field(), e.what()), e.what(), spec,
                    round, result);
    };
    for (int round = 1; round <= options.rounds; ++round) {
      if (stopped()) {
        problems = {"stopped before round " + std::to_string(round)};
        break;
      }
      result.rounds = round;
      auto step = begin_step("check_spec", {{"spec", spec_json(spec)}}, round);
      try {
        meshing::check_printable_spec(spec);
        end_step(step, {{"printable", true}});
      } catch (const meshing::SpecError &e) {
        if (!revise_after(e, step, round)) break;
        continue;
      }

      std::optional<meshing::BuiltPart> part;
      step = begin_step("build", {{"name", spec.name}}, round);
      try {
        part = meshing::build_part(spec, options.build);
        end_step(step, part_summary(spec, *part));
      } catch (const meshing::SpecError &e) {
        if (!revise_after(e, step, round)) break;
        continue;
      } catch (const meshing::BuildError &e) {
        end_step(step, {{"reasons", e.reasons()}}, e.what());
        problems = {e.what()};
        problems.insert(problems.end(), e.reasons().begin(), e.reasons().end());
        if (!revise(detail::revise_for_build_error(spec, e.what(), e.reasons()), e.what(), spec,
                    round, result))
          break;
        continue;
      }
      problems.clear();

      fs::path png = work_dir() / ("design-" + std::to_string(calls) + "-round-" +
                                   std::to_string(round) + ".png");
      step = begin_step("preview", {{"file", png.string()}}, round);
      try {
        meshing::render_preview(*part, png, options.preview);
        end_step(step, {{"file", png.string()}, {"bytes", fs::file_size(png)}});
      } catch (const std::exception &e) {
        end_step(step, json::object(), e.what());
        png.clear();
      }
      Kept candidate{spec, std::move(*part), png};
      if (!options.critique || !model_alive || png.empty()) {
        best = std::move(candidate);    // without a critique the first valid part is the answer
        break;
      }
      const auto verdict = critique(text, spec, png, round);
      if (verdict) candidate.score = (*verdict)["score"].get<double>();
      const bool approved = verdict && (*verdict)["approve"].get<bool>();
      if (!best || candidate.score > best->score) best = std::move(candidate);
      if (!verdict || approved || round == options.rounds || stopped()) break;

      std::string why;
      auto revised =
          spec_from_model("model_revision",
                          detail::revision_prompt(text.empty() ? spec.name : text,
                                                  spec_json(spec).dump(), verdict->dump()),
                          round, why);
      if (!revised) break;    // the best part so far stands; the steps say why
      result.revisions.push_back("round " + std::to_string(round) +
                                 ": the model revised the spec after its critique (score " +
                                 std::to_string((*verdict)["score"].get<double>()) + ")");
      spec = std::move(*revised);
    }
    if (best) {
      result.spec = std::move(best->spec);
      result.part = std::move(best->part);
      result.preview = best->preview;
    } else {
      result.spec = std::move(spec);
      result.problems =
          problems.empty() ? std::vector<std::string>{"no round gave a valid part"} : problems;
    }
  }
};

DesignAgent::DesignAgent(DesignOptions options) : impl_(std::make_unique<Impl>(std::move(options)))
{
  if (impl_->options.rounds < 1) throw std::invalid_argument("rounds must be at least 1");
  if (impl_->options.spec_retries < 0)
    throw std::invalid_argument("spec_retries must not be negative");
}

DesignAgent::~DesignAgent() = default;
DesignAgent::DesignAgent(DesignAgent &&) noexcept = default;
DesignAgent &DesignAgent::operator=(DesignAgent &&) noexcept = default;

DesignResult DesignAgent::design(const std::string &text)
{
  Impl &impl = *impl_;
  impl.start({{"text", text}});
  return impl.traced([&] {
    DesignResult result;
    meshing::DesignSpec spec = impl.spec_for_text(text, result);
    impl.run_loop(text, std::move(spec), result);
    impl.finish(result);
    return result;
  });
}

DesignResult DesignAgent::design_from_image(const std::filesystem::path &image,
                                            const std::string &hint)
{
  Impl &impl = *impl_;
  impl.start({{"image", image.string()}, {"hint", hint}});
  return impl.traced([&] {
    if (impl.options.endpoint.empty())
      throw std::runtime_error("describing an image needs a model: give the endpoint of a "
                               "cephalo-serve");
    const std::string png = read_bytes(image);
    std::string why;
    if (!impl.probe(why))
      throw std::runtime_error("cannot describe " + image.string() + ": " + why);
    bridge::Request r;
    r.type = bridge::RequestType::Describe;
    r.prompt = detail::describe_image_prompt(hint);
    r.images = {png};
    r.params.max_new_tokens = std::min(impl.max_new_tokens, 256);    // one short paragraph
    r.deadline_ms = impl.options.model_timeout_ms;
    const auto step = impl.begin_step(
        "describe_image", {{"image", image.string()}, {"bytes", png.size()}, {"prompt", r.prompt}});
    const bridge::Reply reply = impl.call_model(std::move(r));
    if (!reply.ok() || reply.text().empty()) {
      const std::string error =
          reply.ok() ? "an empty description" : reply.error_code + ": " + reply.error_message;
      impl.end_step(step, json::object(), error);
      throw std::runtime_error("the model could not describe " + image.string() + " (" + error +
                               ")");
    }
    DesignResult result;
    result.description = reply.text();
    impl.end_step(step, {{"description", result.description},
                         {"tokens", reply.body.value("tokens", 0)},
                         {"model_ms", reply.timing().total_ms}});
    // the description is the design; the user's hint follows it as a sentence of its own
    std::string text = result.description;
    if (!hint.empty()) {
      if (text.find_last_not_of(" \n") != std::string::npos &&
          std::string(".!?").find(text[text.find_last_not_of(" \n")]) == std::string::npos)
        text += ".";
      text += "\n" + hint;
    }
    meshing::DesignSpec spec = impl.spec_for_text(text, result);
    impl.run_loop(text, std::move(spec), result);
    impl.finish(result);
    return result;
  });
}

DesignResult DesignAgent::design_spec(const meshing::DesignSpec &spec)
{
  Impl &impl = *impl_;
  impl.start({{"spec", spec_json(spec)}});
  return impl.traced([&] {
    DesignResult result;
    result.spec_source = "request";
    // a critique needs to know the model is there (the probe's step says when it is not)
    std::string why;
    if (impl.options.critique && !impl.options.endpoint.empty()) impl.probe(why);
    impl.run_loop({}, spec, result);
    impl.finish(result);
    return result;
  });
}

std::shared_ptr<const nlohmann::json> DesignAgent::last_trace() const
{
  return impl_->trace;
}

}    // namespace cephalo::agents
