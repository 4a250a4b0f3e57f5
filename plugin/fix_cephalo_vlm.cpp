/* ----------------------------------------------------------------------
   Cephalo LAMMPS plugin: fix cephalo/vlm.
------------------------------------------------------------------------- */

#include "fix_cephalo_vlm.h"

#include "atom.h"
#include "comm.h"
#include "compute.h"
#include "compute_cephalo_crack.h"
#include "domain.h"
#include "error.h"
#include "memory.h"
#include "modify.h"
#include "update.h"

#include "peratom_source.h"

#include "cephalo/bridge/curve.h"
#include "core/snapshot_renderer.h"
#include "core/value_ref.h"
#include "core/vlm_session.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

using namespace LAMMPS_NS;
using namespace FixConst;
namespace core = cephalo::plugin;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int kMaxValues = 64;

bool parse_colour(const std::string &text, std::array<std::uint8_t, 3> &rgb)
{
  if (text == "white") rgb = {255, 255, 255};
  else if (text == "black") rgb = {0, 0, 0};
  else if (text == "gray" || text == "grey") rgb = {128, 128, 128};
  else if (text.size() == 7 && text[0] == '#' &&
           text.find_first_not_of("0123456789abcdefABCDEF", 1) == std::string::npos) {
    for (int k = 0; k < 3; ++k)
      rgb[k] = static_cast<std::uint8_t>(std::stoi(text.substr(1 + 2 * k, 2), nullptr, 16));
  } else {
    return false;
  }
  return true;
}

bool is_number(const char *text)
{
  char *end = nullptr;
  std::strtod(text, &end);
  return end != text && *end == '\0';
}

}    // namespace

/* ---------------------------------------------------------------------- */

FixCephaloVlm::FixCephaloVlm(LAMMPS *lmp, int narg, char **arg) :
    Fix(lmp, narg, arg), every(0), sync(false), show_label(true), drain_seconds(-1.0), color_kind("type"),
    crack_column(0), icrack(-1), source(nullptr), render(std::make_unique<core::RenderSettings>()),
    settings(std::make_unique<core::VlmSettings>()),
    counters(std::make_unique<core::VlmCounters>()), next_snapshot(-1), last_snapshot(-1)
{
  if (narg < 4) error->all(FLERR, "Illegal fix {} command: fix ID group {} N keyword value ...", style, style);
  if (atom->tag_enable == 0) error->all(FLERR, "Fix {} requires atom IDs", style);
  every = utils::inumeric(FLERR, arg[3], false, lmp);
  if (every <= 0) error->all(FLERR, "Fix {} needs N > 0 (steps between snapshots), got {}", style, arg[3]);

  settings->endpoint = "tcp://127.0.0.1:5555";
  settings->output = fmt::format("cephalo_vlm.{}.jsonl", id);
  settings->prompt = "Describe the crack and the stress field in this fracture snapshot.";
  render->view = core::axis_view("+z");
  std::string color_text = "type", curve_server, curve_client, prompt_file;
  double timeout = 60.0, probe = 2.0;

  auto need = [&](int iarg, int count, const char *what) {
    if (iarg + count >= narg)
      error->all(FLERR, "Fix {} keyword {} needs {}", style, arg[iarg], what);
  };
  auto positive = [&](int iarg, const char *what) {
    const double value = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
    if (!(value > 0.0))
      error->all(FLERR, "Fix {} keyword {} needs {} > 0, got {}", style, arg[iarg], what,
                 arg[iarg + 1]);
    return value;
  };
  auto count_value = [&](int iarg, int low, int high, const char *what) {
    const int value = utils::inumeric(FLERR, arg[iarg + 1], false, lmp);
    if (value < low || value > high)
      error->all(FLERR, "Fix {} keyword {} needs {} in {}..{}, got {}", style, arg[iarg], what,
                 low, high, arg[iarg + 1]);
    return value;
  };
  auto yes_no = [&](int iarg) {
    bool value = false;
    if (!cephalo::plugin::parse_yes_no(arg[iarg + 1], value))
      error->all(FLERR, "Fix {} keyword {} needs yes or no, got {}", style, arg[iarg], arg[iarg + 1]);
    return value;
  };

  int iarg = 4;
  while (iarg < narg) {
    const char *key = arg[iarg];
    int used = 2;
    if (strcmp(key, "color") == 0) {
      need(iarg, 1, "type, vonmises, damage, c_ID, c_ID[k] or v_name");
      color_text = arg[iarg + 1];
    } else if (strcmp(key, "crack") == 0) {
      need(iarg, 1, "c_ID of a compute cephalo/crack");
      if (strncmp(arg[iarg + 1], "c_", 2) != 0 || arg[iarg + 1][2] == '\0')
        error->all(FLERR, "Fix {} keyword crack needs c_ID of a compute cephalo/crack, got {}",
                   style, arg[iarg + 1]);
      crack_id = arg[iarg + 1] + 2;
    } else if (strcmp(key, "map") == 0) {
      need(iarg, 1, "viridis, coolwarm or gray");
      try {
        render->map = core::parse_color_map(arg[iarg + 1]);
      } catch (const std::invalid_argument &e) {
        error->all(FLERR, "Fix {} keyword map: {}", style, e.what());
      }
    } else if (strcmp(key, "range") == 0) {
      need(iarg, 1, "auto or two numbers MIN MAX");
      if (strcmp(arg[iarg + 1], "auto") == 0) {
        render->auto_range = true;
      } else {
        need(iarg, 2, "auto or two numbers MIN MAX");
        render->auto_range = false;
        render->vmin = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
        render->vmax = utils::numeric(FLERR, arg[iarg + 2], false, lmp);
        if (!(render->vmax > render->vmin))
          error->all(FLERR, "Fix {} keyword range needs MIN < MAX, got {} {}", style,
                     arg[iarg + 1], arg[iarg + 2]);
        used = 3;
      }
    } else if (strcmp(key, "view") == 0) {
      need(iarg, 1, "+x, -x, +y, -y, +z, -z or two angles THETA PHI in degrees");
      if (is_number(arg[iarg + 1])) {
        need(iarg, 2, "two angles THETA PHI in degrees");
        render->view = core::angle_view(utils::numeric(FLERR, arg[iarg + 1], false, lmp),
                                        utils::numeric(FLERR, arg[iarg + 2], false, lmp));
        used = 3;
      } else {
        try {
          render->view = core::axis_view(arg[iarg + 1]);
        } catch (const std::invalid_argument &e) {
          error->all(FLERR, "Fix {} keyword view: {}", style, e.what());
        }
      }
    } else if (strcmp(key, "size") == 0) {
      need(iarg, 2, "two integers WIDTH HEIGHT in pixels");
      render->width = count_value(iarg, 16, 8192, "a width in pixels");
      render->height = utils::inumeric(FLERR, arg[iarg + 2], false, lmp);
      if (render->height < 16 || render->height > 8192)
        error->all(FLERR, "Fix {} keyword size needs a height in 16..8192, got {}", style, arg[iarg + 2]);
      used = 3;
    } else if (strcmp(key, "radius") == 0) {
      need(iarg, 1, "an atom radius in distance units (0: automatic)");
      render->radius = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      if (render->radius < 0.0)
        error->all(FLERR, "Fix {} keyword radius needs a radius >= 0, got {}", style, arg[iarg + 1]);
    } else if (strcmp(key, "zoom") == 0) {
      need(iarg, 1, "a zoom factor");
      render->zoom = positive(iarg, "a zoom factor");
    } else if (strcmp(key, "background") == 0) {
      need(iarg, 1, "white, black, gray or #RRGGBB");
      if (!parse_colour(arg[iarg + 1], render->background))
        error->all(FLERR, "Fix {} keyword background needs white, black, gray or #RRGGBB, got {}",
                   style, arg[iarg + 1]);
    } else if (strcmp(key, "colorbar") == 0) {
      need(iarg, 1, "yes or no");
      render->color_bar = yes_no(iarg);
    } else if (strcmp(key, "label") == 0) {
      need(iarg, 1, "yes or no");
      show_label = yes_no(iarg);
    } else if (strcmp(key, "file") == 0) {
      need(iarg, 1, "an image file name with * for the step, e.g. snap.*.png");
      settings->image_pattern = arg[iarg + 1];
      if (settings->image_pattern.find('*') == std::string::npos)
        error->all(FLERR, "Fix {} keyword file needs a * for the step in {}", style, arg[iarg + 1]);
    } else if (strcmp(key, "output") == 0) {
      need(iarg, 1, "the JSONL file for the records");
      settings->output = arg[iarg + 1];
    } else if (strcmp(key, "endpoint") == 0) {
      need(iarg, 1, "the server's address (tcp://HOST:PORT) or none");
      settings->endpoint = strcmp(arg[iarg + 1], "none") == 0 ? "" : arg[iarg + 1];
      if (!settings->endpoint.empty() && settings->endpoint.find("://") == std::string::npos)
        error->all(FLERR, "Fix {} keyword endpoint needs tcp://HOST:PORT, ipc://PATH or none, got {}",
                   style, arg[iarg + 1]);
    } else if (strcmp(key, "prompt") == 0) {
      need(iarg, 1, "the prompt text (in quotes)");
      settings->prompt = arg[iarg + 1];
      prompt_file.clear();
    } else if (strcmp(key, "prompt/file") == 0) {
      need(iarg, 1, "a file holding the prompt");
      prompt_file = arg[iarg + 1];
    } else if (strcmp(key, "system") == 0) {
      need(iarg, 1, "the system message (in quotes)");
      settings->system = arg[iarg + 1];
    } else if (strcmp(key, "format") == 0) {
      need(iarg, 1, "text or json");
      if (strcmp(arg[iarg + 1], "json") == 0) settings->json_format = true;
      else if (strcmp(arg[iarg + 1], "text") == 0) settings->json_format = false;
      else error->all(FLERR, "Fix {} keyword format needs text or json, got {}", style, arg[iarg + 1]);
    } else if (strcmp(key, "numbers") == 0) {
      need(iarg, 1, "mode or median");
      if (strcmp(arg[iarg + 1], "median") == 0)
        settings->median_numbers = true;
      else if (strcmp(arg[iarg + 1], "mode") == 0)
        settings->median_numbers = false;
      else
        error->all(FLERR, "Fix {} keyword numbers needs mode or median, got {}", style,
                   arg[iarg + 1]);
    } else if (strcmp(key, "max_tokens") == 0) {
      need(iarg, 1, "the most tokens in an answer");
      settings->max_new_tokens = count_value(iarg, 1, 8192, "a token count");
    } else if (strcmp(key, "temperature") == 0) {
      need(iarg, 1, "a sampling temperature >= 0 (0: greedy)");
      settings->temperature = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      if (settings->temperature < 0.0)
        error->all(FLERR, "Fix {} keyword temperature needs a value >= 0, got {}", style, arg[iarg + 1]);
    } else if (strcmp(key, "top_k") == 0) {
      need(iarg, 1, "an integer >= 0 (0: no limit)");
      settings->top_k = count_value(iarg, 0, 1000000, "an integer");
    } else if (strcmp(key, "top_p") == 0) {
      need(iarg, 1, "a probability in (0, 1]");
      settings->top_p = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      if (!(settings->top_p > 0.0 && settings->top_p <= 1.0))
        error->all(FLERR, "Fix {} keyword top_p needs a value in (0, 1], got {}", style, arg[iarg + 1]);
    } else if (strcmp(key, "seed") == 0) {
      need(iarg, 1, "an integer >= 0");
      settings->seed = static_cast<std::uint64_t>(count_value(iarg, 0, std::numeric_limits<int>::max(), "a seed"));
    } else if (strcmp(key, "fields") == 0) {
      need(iarg, 1, "comma-separated names of the answer's JSON fields, e.g. crack_length,tip_x");
      settings->field_names.clear();
      std::stringstream list(arg[iarg + 1]);
      for (std::string name; std::getline(list, name, ',');) {
        if (name.empty())
          error->all(FLERR, "Fix {} keyword fields has an empty name in {}", style, arg[iarg + 1]);
        settings->field_names.push_back(name);
      }
      if (settings->field_names.size() > static_cast<std::size_t>(kMaxValues))
        error->all(FLERR, "Fix {} keyword fields names more than {} fields", style, kMaxValues);
      settings->value_count = settings->field_names.size();
    } else if (strcmp(key, "values") == 0) {
      need(iarg, 1, "how many parsed answer values the vector holds");
      settings->value_count = count_value(iarg, 0, kMaxValues, "a count");
    } else if (strcmp(key, "curve") == 0) {
      need(iarg, 2, "the server's public key file and this client's secret key file");
      curve_server = arg[iarg + 1];
      curve_client = arg[iarg + 2];
      used = 3;
    } else if (strcmp(key, "mode") == 0) {
      need(iarg, 1, "async or sync");
      if (strcmp(arg[iarg + 1], "sync") == 0) sync = true;
      else if (strcmp(arg[iarg + 1], "async") == 0) sync = false;
      else error->all(FLERR, "Fix {} keyword mode needs async or sync, got {}", style, arg[iarg + 1]);
    } else if (strcmp(key, "timeout") == 0) {
      need(iarg, 1, "seconds a request may take");
      timeout = positive(iarg, "a time in seconds");
    } else if (strcmp(key, "inflight") == 0) {
      need(iarg, 1, "how many requests may wait for answers at once");
      settings->max_in_flight = count_value(iarg, 1, 1024, "a count");
    } else if (strcmp(key, "drain") == 0) {
      need(iarg, 1, "seconds to wait for answers at the end of a run");
      drain_seconds = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      if (drain_seconds < 0.0)
        error->all(FLERR, "Fix {} keyword drain needs seconds >= 0, got {}", style, arg[iarg + 1]);
    } else if (strcmp(key, "probe") == 0) {
      need(iarg, 1, "seconds the server may take to answer the first request");
      probe = positive(iarg, "a time in seconds");
    } else {
      error->all(FLERR, "Unknown fix {} keyword: {}", style, key);
    }
    iarg += used;
  }

  // the colour source
  source = new CephaloPerAtomSource(lmp, fmt::format("fix {}", style), "color");
  if (color_text == "type") {
    color_kind = "type";
  } else if (color_text == "vonmises" || color_text == "damage") {
    if (crack_id.empty())
      error->all(FLERR, "Fix {} keyword color {} needs keyword crack with a compute cephalo/crack",
                 style, color_text);
    color_kind = "source";
    // columns of the crack compute's per-atom array: damage, von Mises, ...
    source->parse(fmt::format("c_{}[{}]", crack_id, color_text == "damage" ? 1 : 2).c_str());
  } else {
    color_kind = "source";
    source->parse(color_text.c_str());
  }
  color_label = color_text;

  if (!prompt_file.empty()) {
    // every rank reads it, so a missing file is an error on all of them alike
    std::ifstream in(prompt_file);
    std::stringstream text;
    text << in.rdbuf();
    if (!in || text.str().empty())
      error->all(FLERR, "Fix {} keyword prompt/file: cannot read a prompt from {}", style, prompt_file);
    settings->prompt = text.str();
    while (!settings->prompt.empty() &&
           (settings->prompt.back() == '\n' || settings->prompt.back() == '\r'))
      settings->prompt.pop_back();
  }
  if (settings->prompt.empty()) error->all(FLERR, "Fix {} keyword prompt is empty", style);

  if (!curve_server.empty()) {
    try {
      settings->curve_server_key = cephalo::bridge::read_curve_key(curve_server);
      settings->curve_secret_key = cephalo::bridge::read_curve_key(curve_client);
      settings->curve_public_key = cephalo::bridge::curve_public_of(settings->curve_secret_key);
    } catch (const std::exception &e) {
      error->all(FLERR, "Fix {} keyword curve: {}", style, e.what());
    }
  }
  settings->deadline_ms = static_cast<int>(std::min(timeout * 1000.0, 1.0e9));
  settings->probe_ms = static_cast<int>(std::min(probe * 1000.0, 1.0e9));
  if (drain_seconds < 0.0) drain_seconds = timeout;
  if (domain->dimension == 2 && render->view.toward_camera[2] == 0.0 && comm->me == 0)
    error->warning(FLERR, "Fix {} looks at a 2d system from the side", style);

  nevery = 1;    // end_of_step every step: snapshots every `every`, counters shared each step
  vector_flag = 1;
  size_vector = NUM_COUNTERS + static_cast<int>(settings->value_count);
  global_freq = 1;
  extvector = 0;
  dynamic_group_allow = 1;
  values.assign(size_vector, 0.0);
  values[LAST_STEP] = -1.0;
  for (int k = NUM_COUNTERS; k < size_vector; ++k) values[k] = kNaN;

  // rank 0 opens the records now, so a bad path fails at the fix command on every rank
  std::string problem;
  if (comm->me == 0) {
    try {
      session = std::make_unique<core::VlmSession>(*settings);
    } catch (const std::exception &e) {
      problem = e.what();
    }
  }
  int failed = problem.empty() ? 0 : 1;
  MPI_Bcast(&failed, 1, MPI_INT, 0, world);
  if (failed) {
    if (comm->me == 0) error->one(FLERR, "Fix {} keyword output: {}", style, problem);
    error->all(FLERR, "Fix {} could not open its records file", style);
  }
}

/* ---------------------------------------------------------------------- */

FixCephaloVlm::~FixCephaloVlm()
{
  session.reset();    // records what still waits and joins the worker
  delete source;
}

int FixCephaloVlm::setmask()
{
  return END_OF_STEP | POST_RUN;
}

/* ---------------------------------------------------------------------- */

void FixCephaloVlm::init()
{
  if (color_kind == "source") source->resolve();
  icrack = -1;
  if (!crack_id.empty()) {
    icrack = modify->find_compute(crack_id);
    if (icrack < 0)
      error->all(FLERR, "Compute ID {} for fix {} keyword crack does not exist", crack_id, style);
    if (strcmp(modify->compute[icrack]->style, "cephalo/crack") != 0)
      error->all(FLERR, "Compute {} for fix {} keyword crack has style {}, not cephalo/crack",
                 crack_id, style, modify->compute[icrack]->style);
  }
  // settings that cannot give a picture of this box fail now, not at the first snapshot
  try {
    core::validate(*render, current_box());
  } catch (const std::invalid_argument &e) {
    error->all(FLERR, "Fix {}: {}", style, e.what());
  }

  // computes that tally per-atom energy or stress must know the step in advance; a run that
  // starts where the last one ended has had its snapshot of this step
  next_snapshot = next_multiple(update->ntimestep);
  if (next_snapshot == last_snapshot) next_snapshot += every;
  modify->addstep_compute_all(next_snapshot);
}

void FixCephaloVlm::setup(int /*vflag*/)
{
  if (update->ntimestep == next_snapshot) snapshot();
  share_counters();
}

void FixCephaloVlm::end_of_step()
{
  if (update->ntimestep == next_snapshot) snapshot();
  share_counters();
}

void FixCephaloVlm::post_run()
{
  if (comm->me == 0 && session) {
    const std::size_t expired = session->drain(drain_seconds);
    if (expired > 0)
      error->warning(FLERR, "Fix {} recorded {} snapshot(s) as timeout: no answer within {} s "
                            "after the run (keyword drain)",
                     style, expired, drain_seconds);
  }
  share_counters();
}

/* ---------------------------------------------------------------------- */

bigint FixCephaloVlm::next_multiple(bigint step) const
{
  return ((step + every - 1) / every) * every;
}

double FixCephaloVlm::current_time() const
{
  return update->atime + static_cast<double>(update->ntimestep - update->atimestep) * update->dt;
}

void FixCephaloVlm::snapshot()
{
  const bigint step = update->ntimestep;
  last_snapshot = step;
  modify->clearstep_compute();

  core::Atoms local;
  const int nlocal = atom->nlocal;
  const int *mask = atom->mask;
  const double *const *x = atom->x;
  const double *value = color_kind == "source" ? source->values(igroup) : nullptr;
  local.x.reserve(nlocal);
  local.id.reserve(nlocal);
  local.value.reserve(nlocal);
  for (int i = 0; i < nlocal; i++) {
    if (!(mask[i] & groupbit)) continue;
    local.x.push_back({x[i][0], x[i][1], x[i][2]});
    local.id.push_back(static_cast<std::int64_t>(atom->tag[i]));
    local.value.push_back(value ? value[i] : static_cast<double>(atom->type[i]));
  }

  std::vector<std::pair<std::string, double>> truth;
  if (icrack >= 0) {
    Compute *crack = modify->compute[icrack];
    if (!((crack->invoked_flag & Compute::INVOKED_VECTOR) && crack->invoked_vector == step)) {
      crack->compute_vector();
      crack->invoked_flag |= Compute::INVOKED_VECTOR;
    }
    for (int k = 0; k < ComputeCephaloCrack::NUM_ENTRIES; ++k)
      truth.emplace_back(ComputeCephaloCrack::entry_names[k], crack->vector[k]);
  }

  next_snapshot = step + every;
  modify->addstep_compute(next_snapshot);

  const core::Box box = current_box();

  core::RenderSettings resolved;
  core::Framebuffer image;
  const double start = MPI_Wtime();
  try {
    image = core::render_composite(box, local, *render, world, &resolved, 0);
  } catch (const std::exception &e) {
    error->all(FLERR, "Fix {} cannot draw step {}: {}", style, step, e.what());
  }
  if (comm->me != 0) return;

  const double time = current_time();
  if (show_label) resolved.label = fmt::format("{}  step {}  t = {:.6g}", color_label, step, time);
  core::Snapshot snap;
  snap.step = step;
  snap.time = time;
  snap.image = std::move(image);
  snap.box = box;
  snap.resolved = resolved;
  snap.truth = std::move(truth);
  snap.render_ms = 1000.0 * (MPI_Wtime() - start);
  const std::uint64_t sequence = session->submit(std::move(snap));
  if (sync && !session->wait(sequence, settings->deadline_ms / 1000.0 + 1.0))
    error->warning(FLERR, "Fix {} mode sync: no answer for step {} within {} s; the run goes on",
                   style, step, settings->deadline_ms / 1000.0);
}

core::Box FixCephaloVlm::current_box() const
{
  core::Box box;
  for (int k = 0; k < 3; ++k) {
    box.lo[k] = domain->boxlo[k];
    box.hi[k] = domain->boxhi[k];
  }
  if (domain->triclinic) {
    box.xy = domain->xy;
    box.xz = domain->xz;
    box.yz = domain->yz;
  }
  return box;
}

void FixCephaloVlm::share_counters()
{
  if (comm->me == 0 && session) {
    core::VlmCounters &c = *counters;
    session->read_counters(c);
    values[SNAPSHOTS] = c.snapshots;
    values[SENT] = c.sent;
    values[ANSWERED] = c.ok;
    values[ERRORS] = c.errors;
    values[SKIPPED] = c.skipped;
    values[TIMEOUTS] = c.timeouts;
    values[IN_FLIGHT] = c.in_flight;
    values[LAST_STEP] = c.last_step;
    values[LAST_LATENCY] = c.last_latency_ms;
    for (std::size_t k = 0; k < c.values.size() && NUM_COUNTERS + k < values.size(); ++k)
      values[NUM_COUNTERS + k] = c.values[k];
  }
  MPI_Bcast(values.data(), static_cast<int>(values.size()), MPI_DOUBLE, 0, world);
}

double FixCephaloVlm::compute_vector(int n)
{
  return values[n];
}

double FixCephaloVlm::memory_usage()
{
  return static_cast<double>(values.size() * sizeof(double));
}
