/* ----------------------------------------------------------------------
   Cephalo LAMMPS plugin: compute cephalo/crack.
------------------------------------------------------------------------- */

#include "compute_cephalo_crack.h"

#include "atom.h"
#include "comm.h"
#include "domain.h"
#include "error.h"
#include "fix_cephalo_bonds.h"
#include "peratom_source.h"
#include "force.h"
#include "group.h"
#include "input.h"
#include "memory.h"
#include "modify.h"
#include "neigh_list.h"
#include "neigh_request.h"
#include "neighbor.h"
#include "pair.h"
#include "region.h"
#include "update.h"
#include "variable.h"

#include "core/field_stats.h"
#include "core/point_cells.h"
#include "core/stress.h"
#include "core/value_ref.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <stdexcept>

using namespace LAMMPS_NS;
using cephalo::plugin::FieldStats;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void store_stats(double *out, const FieldStats &stats)
{
  out[0] = stats.mean;
  out[1] = stats.median;
  out[2] = stats.stdev;
  out[3] = stats.max;
  out[4] = stats.p95;
}

}    // namespace

const char *const ComputeCephaloCrack::entry_names[NUM_ENTRIES] = {
    "crack_length", "tip_x",        "tip_y",           "tip_z",    "crack_speed",
    "damage",       "broken_bonds", "reference_bonds", "vm_mean",  "vm_median",
    "vm_stdev",     "vm_max",       "vm_p95",          "pe_mean",  "pe_median",
    "pe_stdev",     "pe_max",       "pe_p95",          "clusters", "longest_opening"};

/* ---------------------------------------------------------------------- */

ComputeCephaloCrack::ComputeCephaloCrack(LAMMPS *lmp, int narg, char **arg) :
    Compute(lmp, narg, arg), bond_cutoff(0.0), break_distance(0.0), link_distance(0.0), axis(0),
    direction(1.0), origin_first(true), origin_value(0.0), surface_loss(2), heal(false),
    region(nullptr), id_fix(nullptr), bonds(nullptr), list(nullptr), nmax(0), peratom(nullptr),
    cluster_label(nullptr), have_previous(false), previous_time(0.0), previous_length(0.0),
    speed(0.0)
{
  if (atom->tag_enable == 0) error->all(FLERR, "Compute {} requires atom IDs", style);

  volume.kind = Source::AUTO;

  auto need_value = [&](int iarg, const char *what) {
    if (iarg + 1 >= narg)
      error->all(FLERR, "Compute {} keyword {} needs a value: {}", style, arg[iarg], what);
  };
  auto positive = [&](int iarg) {
    const double value = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
    if (!(value > 0.0))
      error->all(FLERR, "Compute {} keyword {} needs a distance > 0, got {}", style, arg[iarg],
                 arg[iarg + 1]);
    return value;
  };

  int iarg = 3;
  while (iarg < narg) {
    if (strcmp(arg[iarg], "bond") == 0) {
      need_value(iarg, "the bond cutoff distance");
      bond_cutoff = positive(iarg);
    } else if (strcmp(arg[iarg], "break") == 0) {
      need_value(iarg, "the distance beyond which a bond is broken");
      break_distance = positive(iarg);
    } else if (strcmp(arg[iarg], "axis") == 0) {
      need_value(iarg, "x, y, z, -x, -y or -z");
      const char *value = arg[iarg + 1];
      direction = 1.0;
      if (value[0] == '-' || value[0] == '+') {
        if (value[0] == '-') direction = -1.0;
        ++value;
      }
      if (strcmp(value, "x") == 0)
        axis = 0;
      else if (strcmp(value, "y") == 0)
        axis = 1;
      else if (strcmp(value, "z") == 0)
        axis = 2;
      else
        error->all(FLERR, "Compute {} keyword axis needs x, y, z, -x, -y or -z, got {}", style,
                   arg[iarg + 1]);
      if (axis == 2 && domain->dimension == 2)
        error->all(FLERR, "Compute {} keyword axis cannot be z for a 2d system", style);
    } else if (strcmp(arg[iarg], "origin") == 0) {
      need_value(iarg, "first or a coordinate");
      if (strcmp(arg[iarg + 1], "first") == 0) {
        origin_first = true;
      } else {
        origin_first = false;
        origin_value = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      }
    } else if (strcmp(arg[iarg], "link") == 0) {
      need_value(iarg, "the distance within which crack-face atoms belong to one crack");
      link_distance = positive(iarg);
    } else if (strcmp(arg[iarg], "surface") == 0) {
      need_value(iarg, "the number of lost neighbours that puts an atom on a crack face");
      surface_loss = utils::inumeric(FLERR, arg[iarg + 1], false, lmp);
      if (surface_loss < 1)
        error->all(FLERR, "Compute {} keyword surface needs an integer >= 1, got {}", style,
                   arg[iarg + 1]);
    } else if (strcmp(arg[iarg], "heal") == 0) {
      need_value(iarg, "yes or no");
      if (!cephalo::plugin::parse_yes_no(arg[iarg + 1], heal))
        error->all(FLERR, "Compute {} keyword heal needs yes or no, got {}", style, arg[iarg + 1]);
    } else if (strcmp(arg[iarg], "region") == 0) {
      need_value(iarg, "the ID of a region that bounds the crack search");
      region_id = arg[iarg + 1];
      if (!find_region())
        error->all(FLERR, "Region {} for compute {} keyword region does not exist", region_id,
                   style);
    } else if (strcmp(arg[iarg], "stress") == 0) {
      need_value(iarg, "c_ID of a per-atom stress compute such as stress/atom");
      parse_source(stress, arg[iarg], arg[iarg + 1]);
    } else if (strcmp(arg[iarg], "energy") == 0) {
      need_value(iarg, "c_ID, c_ID[k] or v_name of a per-atom energy");
      parse_source(energy, arg[iarg], arg[iarg + 1]);
    } else if (strcmp(arg[iarg], "volume") == 0) {
      need_value(iarg, "auto, a number, c_ID, c_ID[k] or v_name");
      parse_source(volume, arg[iarg], arg[iarg + 1]);
    } else {
      error->all(FLERR, "Unknown compute {} keyword: {}", style, arg[iarg]);
    }
    iarg += 2;
  }

  if (bond_cutoff <= 0.0)
    error->all(FLERR,
               "Compute {} needs keyword bond with the bond cutoff distance "
               "(pairs closer than it at the reference are bonds)",
               style);
  if (break_distance <= 0.0) break_distance = bond_cutoff;
  // Atoms around a void or on two faces near the tip sit about two bond lengths apart.
  if (link_distance <= 0.0) link_distance = 1.5 * bond_cutoff;
  if (break_distance < bond_cutoff)
    error->all(FLERR, "Compute {} break distance {} must not be shorter than the bond cutoff {}",
               style, break_distance, bond_cutoff);

  vector_flag = 1;
  size_vector = NUM_ENTRIES;
  extvector = 0;
  peratom_flag = 1;
  size_peratom_cols = 4;
  comm_forward = 1;
  dynamic_group_allow = 0;
  vector = new double[NUM_ENTRIES];
  std::fill(vector, vector + NUM_ENTRIES, 0.0);

  // The reference bonds live in an internal fix so that they migrate with their atoms and
  // are written to restart files; its ID is derived from ours so a restart finds it again.
  id_fix = utils::strdup(std::string(id) + "_CEPHALO_BONDS");
  bonds = dynamic_cast<FixCephaloBonds *>(
      modify->add_fix(fmt::format("{} {} CEPHALO_BONDS", id_fix, group->names[igroup])));
  if (!bonds) error->all(FLERR, "Compute {} could not create its internal fix {}", style, id_fix);
}

/* ---------------------------------------------------------------------- */

ComputeCephaloCrack::~ComputeCephaloCrack()
{
  // the fix may already be gone when LAMMPS tears down all fixes before computes
  if (id_fix && modify) {
    const int ifix = modify->find_fix(id_fix);
    if (ifix >= 0) modify->delete_fix(ifix);
  }
  delete[] id_fix;
  delete[] vector;
  memory->destroy(peratom);
  memory->destroy(cluster_label);
  for (Source *source : {&stress, &energy, &volume}) delete source->values;
}

/* ---------------------------------------------------------------------- */

void ComputeCephaloCrack::parse_source(Source &source, const char *keyword, const char *value)
{
  if (strcmp(keyword, "volume") == 0) {
    if (strcmp(value, "auto") == 0) {
      source.kind = Source::AUTO;
      return;
    }
    cephalo::plugin::ValueRef ref;
    try {
      ref = cephalo::plugin::parse_value_ref(value, true);
    } catch (const std::invalid_argument &) {
      ref.kind = cephalo::plugin::ValueRef::Kind::Compute;    // CephaloPerAtomSource says why
    }
    if (ref.kind == cephalo::plugin::ValueRef::Kind::Number) {
      if (!(ref.number > 0.0))
        error->all(FLERR, "Compute {} keyword volume needs a volume > 0, got {}", style, value);
      source.kind = Source::CONSTANT;
      source.constant = ref.number;
      return;
    }
  }
  if (strcmp(keyword, "stress") == 0 && strncmp(value, "c_", 2) != 0)
    error->all(FLERR,
               "Compute {} keyword stress needs c_ID of a compute with 6 per-atom stress "
               "columns (such as stress/atom), got {}",
               style, value);
  delete source.values;
  source.values = new CephaloPerAtomSource(lmp, fmt::format("compute {}", style), keyword);
  source.values->parse(value);
  source.kind = Source::PERATOM;
}

/* ---------------------------------------------------------------------- */

void ComputeCephaloCrack::init()
{
  const int ifix = modify->find_fix(id_fix);
  if (ifix < 0) error->all(FLERR, "Compute {} lost its internal fix {}", style, id_fix);
  bonds = dynamic_cast<FixCephaloBonds *>(modify->fix[ifix]);
  if (!bonds) error->all(FLERR, "Fix {} of compute {} has the wrong style", id_fix, style);

  if (stress.kind == Source::PERATOM)
    stress.values->resolve(6, "6 per-atom stress columns (xx yy zz xy xz yz) like stress/atom");
  if (energy.kind == Source::PERATOM) energy.values->resolve();
  if (volume.kind == Source::PERATOM) volume.values->resolve();
  if (!region_id.empty()) {
    region = find_region();
    if (!region)
      error->all(FLERR, "Region {} for compute {} keyword region does not exist", region_id, style);
    region->init();
  }

  // The exact ghost cutoff is known only after the neighbor setup of a run (checked again in
  // setup()); the pair cutoff plus skin catches a too long distance before LAMMPS's neighbor
  // code would refuse the list without naming this compute.
  const double pair_reach = force->pair ? force->pair->cutforce + neighbor->skin : 0.0;
  check_cutoffs(std::max(pair_reach, comm->cutghostuser));

  // An occasional full list out to the break distance, built at each measurement after a
  // reneighboring: it finds the reference bonds once, then the current neighbours of every atom.
  const double cutoff = break_distance + neighbor->skin;
#if defined(CEPHALO_LAMMPS_ADD_REQUEST)
  auto *request = neighbor->add_request(this, NeighConst::REQ_FULL | NeighConst::REQ_OCCASIONAL);
  request->set_cutoff(cutoff);
#else
  const int irequest = neighbor->request(this, instance_me);
  neighbor->requests[irequest]->pair = 0;
  neighbor->requests[irequest]->compute = 1;
  neighbor->requests[irequest]->half = 0;
  neighbor->requests[irequest]->full = 1;
  neighbor->requests[irequest]->occasional = 1;
  neighbor->requests[irequest]->cut = 1;
  neighbor->requests[irequest]->cutoff = cutoff;
#endif
}

Region *ComputeCephaloCrack::find_region() const
{
#if defined(CEPHALO_LAMMPS_REGION_BY_ID)
  return domain->get_region_by_id(region_id);
#else
  const int index = domain->find_region(region_id);
  return index < 0 ? nullptr : domain->regions[index];
#endif
}

void ComputeCephaloCrack::init_list(int /*id*/, NeighList *ptr)
{
  list = ptr;
}

void ComputeCephaloCrack::setup()
{
  check_cutoffs(comm->get_comm_cutoff());
}

/* ---------------------------------------------------------------------- */

void ComputeCephaloCrack::check_cutoffs(double ghost)
{
  // A partner within the break distance now was within break distance + skin at the last
  // reneighboring, so it is present as a ghost atom only if that fits in the ghost cutoff.
  const double reach = std::max(break_distance, link_distance) + neighbor->skin;
  if (reach > ghost)
    error->all(FLERR,
               "Compute {} break distance {} / link distance {} plus neighbor skin {} exceeds the "
               "ghost atom cutoff {}: use comm_modify cutoff {} or shorter distances",
               style, break_distance, link_distance, neighbor->skin, ghost, reach);
}

/* ---------------------------------------------------------------------- */

void ComputeCephaloCrack::compute_vector()
{
  invoked_vector = update->ntimestep;
  // compute_peratom() may already have measured this configuration in the same output pass
  if (!((invoked_flag & Compute::INVOKED_PERATOM) && invoked_peratom == update->ntimestep))
    measure();
}

void ComputeCephaloCrack::compute_peratom()
{
  invoked_peratom = update->ntimestep;
  if (!((invoked_flag & Compute::INVOKED_VECTOR) && invoked_vector == update->ntimestep)) measure();
}

/* ---------------------------------------------------------------------- */

double ComputeCephaloCrack::current_time() const
{
  return update->atime + static_cast<double>(update->ntimestep - update->atimestep) * update->dt;
}

void ComputeCephaloCrack::grow_peratom()
{
  if (atom->nmax <= nmax) return;
  nmax = atom->nmax;
  memory->destroy(peratom);
  memory->destroy(cluster_label);
  memory->create(peratom, nmax, 4, "cephalo/crack:peratom");
  memory->create(cluster_label, nmax, "cephalo/crack:cluster");
  array_atom = peratom;
}

void ComputeCephaloCrack::measure()
{
  if (!list) error->all(FLERR, "Compute {} was invoked before its neighbor list exists", style);
  grow_peratom();
  check_cutoffs(comm->get_comm_cutoff());
#if defined(CEPHALO_LAMMPS_BUILD_ONE_PREFLAG)
  neighbor->build_one(list, 1);
#else
  neighbor->build_one(list);
#endif
  if (!bonds->reference.taken) take_reference();
  find_crack_atoms();
  trace_crack();
  measure_field_statistics();
}

/* ----------------------------------------------------------------------
   record every pair of group atoms closer than the bond cutoff as a bond
------------------------------------------------------------------------- */

void ComputeCephaloCrack::take_reference()
{
  const int nlocal = atom->nlocal;
  const int *mask = atom->mask;
  const tagint *tag = atom->tag;
  double **x = atom->x;
  const double cutsq = bond_cutoff * bond_cutoff;

  auto bonded = [&](int i, int j) {
    if (!(mask[j] & groupbit)) return false;
    const double dx = x[j][0] - x[i][0], dy = x[j][1] - x[i][1], dz = x[j][2] - x[i][2];
    return dx * dx + dy * dy + dz * dz < cutsq;
  };

  // two passes: the widest atom sets the table width on every rank
  int widest = 0;
  for (int ii = 0; ii < list->inum; ii++) {
    const int i = list->ilist[ii];
    if (!(mask[i] & groupbit)) continue;
    int count = 0;
    for (int jj = 0; jj < list->numneigh[i]; jj++)
      if (bonded(i, list->firstneigh[i][jj] & NEIGHMASK)) count++;
    widest = std::max(widest, count);
  }
  MPI_Allreduce(MPI_IN_PLACE, &widest, 1, MPI_INT, MPI_MAX, world);
  bonds->set_capacity(widest);

  double mybonds = 0.0;
  for (int i = 0; i < nlocal; i++) bonds->nbond[i] = bonds->face[i] = 0;
  for (int ii = 0; ii < list->inum; ii++) {
    const int i = list->ilist[ii];
    if (!(mask[i] & groupbit)) continue;
    int &count = bonds->nbond[i];
    for (int jj = 0; jj < list->numneigh[i]; jj++) {
      const int j = list->firstneigh[i][jj] & NEIGHMASK;
      if (bonded(i, j)) bonds->partner[i][count++] = tag[j];
    }
    mybonds += count;
  }

  FixCephaloBonds::Reference &ref = bonds->reference;
  MPI_Allreduce(&mybonds, &ref.bonds, 1, MPI_DOUBLE, MPI_SUM, world);
  ref.bonds *= 0.5;    // each bond is stored at both of its atoms
  double box = domain->xprd * domain->yprd;
  if (domain->dimension == 3) box *= domain->zprd;
  ref.volume_per_atom = atom->natoms > 0 ? box / static_cast<double>(atom->natoms) : 0.0;
  ref.origin_set = 0;
  ref.taken = 1;
  have_previous = false;
}

/* ----------------------------------------------------------------------
   per atom: reference bonds stretched beyond the break distance break for
   good (damage); atoms that lost at least `surface` neighbours, i.e. whose
   broken bonds were not replaced by new neighbours, line crack faces and
   voids. Slip keeps the neighbour count and so does not look like a crack.
   Without `heal`, an atom once on a face stays there: its bonds are broken
   for good even when thermal motion or closing brings the faces back
   within the bond cutoff, so a short crack does not vanish and reappear.
------------------------------------------------------------------------- */

void ComputeCephaloCrack::find_crack_atoms()
{
  const int nlocal = atom->nlocal;
  const int *mask = atom->mask;
  const tagint *tag = atom->tag;
  double **x = atom->x;
  const double breaksq = break_distance * break_distance;
  const double bondsq = bond_cutoff * bond_cutoff;
  if (region) region->prematch();

  double intact = 0.0;
  crack_atoms.clear();
  for (int i = 0; i < nlocal; i++) peratom[i][0] = peratom[i][2] = peratom[i][3] = 0.0;

  for (int ii = 0; ii < list->inum; ii++) {
    const int i = list->ilist[ii];
    if (!(mask[i] & groupbit)) continue;

    // group atoms now within the break distance (every periodic image is its own entry)
    near.clear();
    for (int jj = 0; jj < list->numneigh[i]; jj++) {
      const int j = list->firstneigh[i][jj] & NEIGHMASK;
      if (!(mask[j] & groupbit)) continue;
      const double dx = x[j][0] - x[i][0], dy = x[j][1] - x[i][1], dz = x[j][2] - x[i][2];
      const double rsq = dx * dx + dy * dy + dz * dz;
      if (rsq <= breaksq) near.push_back({tag[j], rsq, false});
    }

    const int count = bonds->nbond[i];
    int broken = 0, kept = 0;
    for (int k = 0; k < count; k++) {
      tagint &partner = bonds->partner[i][k];
      if (partner > 0) {
        auto it = near.begin();
        while (it != near.end() && it->tag != partner) ++it;
        if (it == near.end()) {
          partner = -partner;
        } else {
          it->bonded = true;
          kept++;
          if (tag[i] < partner) intact += 1.0;    // count each bond once, at its lower-ID atom
        }
      }
      if (partner < 0) broken++;
    }
    // neighbours that are not intact bonds but as close as bonds were replace lost bonds
    int fresh = 0;
    for (const auto &n : near)
      if (!n.bonded && n.rsq < bondsq) fresh++;
    const int lost = std::max(0, count - kept - fresh);

    peratom[i][0] = count > 0 ? static_cast<double>(broken) / count : 0.0;
    peratom[i][2] = lost;
    const bool on_face = lost >= surface_loss || (!heal && bonds->face[i]);
    if (on_face && (!region || region->match(x[i][0], x[i][1], x[i][2]))) {
      crack_atoms.push_back(i);
      bonds->face[i] = 1;
    } else if (heal) {
      bonds->face[i] = 0;
    }
  }

  FixCephaloBonds::Reference &ref = bonds->reference;
  MPI_Allreduce(MPI_IN_PLACE, &intact, 1, MPI_DOUBLE, MPI_SUM, world);
  const double broken_bonds = ref.bonds - intact;
  vector[REFERENCE_BONDS] = ref.bonds;
  vector[BROKEN_BONDS] = broken_bonds;
  vector[DAMAGE] = ref.bonds > 0.0 ? broken_bonds / ref.bonds : 0.0;
}

/* ----------------------------------------------------------------------
   crack-face atoms within the link distance of each other form clusters,
   each labelled by its lowest atom ID: union-find joins the atoms of this
   rank, ghost atoms carry labels across ranks, repeated until no label
   changes anywhere
------------------------------------------------------------------------- */

void ComputeCephaloCrack::label_clusters()
{
  const int nlocal = atom->nlocal;
  const int nall = nlocal + atom->nghost;
  const int count = static_cast<int>(crack_atoms.size());
  double **x = atom->x;
  double *label = cluster_label;
  std::fill(label, label + nall, 0.0);
  for (int i : crack_atoms) label[i] = static_cast<double>(atom->tag[i]);
  forward_labels();    // ghosts learn which of them are crack-face atoms

  // links between crack-face atoms, found in cells over just those atoms (they are few)
  const double linksq = link_distance * link_distance;
  cells.reset(link_distance);
  for (int i = 0; i < nall; i++)
    if (label[i] > 0.0) cells.add(i, x[i]);
  link_start.assign(1, 0);
  links.clear();
  for (int i : crack_atoms) {
    cells.for_each_near(x[i], [&](int j) {
      const double dx = x[j][0] - x[i][0], dy = x[j][1] - x[i][1], dz = x[j][2] - x[i][2];
      if (j != i && dx * dx + dy * dy + dz * dz <= linksq) links.push_back(j);
    });
    link_start.push_back(static_cast<int>(links.size()));
  }

  // union-find over this rank's crack-face atoms; slot[i] is local atom i's place in crack_atoms
  slot.assign(static_cast<std::size_t>(nlocal), -1);
  for (int c = 0; c < count; c++) slot[crack_atoms[c]] = c;
  parent.resize(static_cast<std::size_t>(count));
  for (int c = 0; c < count; c++) parent[c] = c;
  auto root = [&](int c) {
    while (parent[c] != c) c = parent[c] = parent[parent[c]];
    return c;
  };
  for (int c = 0; c < count; c++)
    for (int n = link_start[c]; n < link_start[c + 1]; n++) {
      const int j = links[n];
      if (j < nlocal) {
        const int a = root(c), b = root(slot[j]);
        if (a != b) parent[std::max(a, b)] = std::min(a, b);
      }
    }

  // each set takes the lowest label among its atoms and their ghost neighbours; ghosts carry
  // the new labels to the next round until no label changes on any rank
  std::vector<double> lowest(static_cast<std::size_t>(count));
  while (true) {
    std::fill(lowest.begin(), lowest.end(), std::numeric_limits<double>::infinity());
    for (int c = 0; c < count; c++) {
      double &low = lowest[root(c)];
      low = std::min(low, label[crack_atoms[c]]);
      for (int n = link_start[c]; n < link_start[c + 1]; n++)
        if (links[n] >= nlocal) low = std::min(low, label[links[n]]);
    }
    int changed = 0;
    for (int c = 0; c < count; c++) {
      const double low = lowest[root(c)];
      if (low < label[crack_atoms[c]]) {
        label[crack_atoms[c]] = low;
        changed = 1;
      }
    }
    MPI_Allreduce(MPI_IN_PLACE, &changed, 1, MPI_INT, MPI_MAX, world);
    if (!changed) break;
    forward_labels();
  }
  for (int i : crack_atoms) peratom[i][3] = label[i];
}

void ComputeCephaloCrack::forward_labels()
{
#if defined(CEPHALO_LAMMPS_FORWARD_COMM_COMPUTE)
  comm->forward_comm_compute(this);
#else
  comm->forward_comm(this);
#endif
}

int ComputeCephaloCrack::pack_forward_comm(int n, int *sendlist, double *buf, int /*pbc_flag*/,
                                           int * /*pbc*/)
{
  for (int k = 0; k < n; k++) buf[k] = cluster_label[sendlist[k]];
  return n;
}

void ComputeCephaloCrack::unpack_forward_comm(int n, int first, double *buf)
{
  for (int k = 0; k < n; k++) cluster_label[first + k] = buf[k];
}

/* ----------------------------------------------------------------------
   the crack is the largest cluster of crack-face atoms (others are voids);
   its tip is its atom farthest along the axis
------------------------------------------------------------------------- */

void ComputeCephaloCrack::trace_crack()
{
  const tagint *tag = atom->tag;
  double **x = atom->x;
  label_clusters();

  // this rank's part of each cluster: label, atoms, front, rear
  std::map<double, std::array<double, 3>> parts;
  for (int i : crack_atoms) {
    const double along = direction * x[i][axis];
    auto inserted = parts.emplace(cluster_label[i], std::array<double, 3>{0.0, along, along});
    auto &part = inserted.first->second;
    part[0] += 1.0;
    part[1] = std::max(part[1], along);
    part[2] = std::min(part[2], along);
  }
  std::vector<double> mine;
  for (const auto &[label, part] : parts)
    mine.insert(mine.end(), {label, part[0], part[1], part[2]});
  int nprocs = 1;
  MPI_Comm_size(world, &nprocs);
  int size = static_cast<int>(mine.size());
  std::vector<int> sizes(nprocs), offsets(nprocs, 0);
  MPI_Allgather(&size, 1, MPI_INT, sizes.data(), 1, MPI_INT, world);
  for (int p = 1; p < nprocs; p++) offsets[p] = offsets[p - 1] + sizes[p - 1];
  std::vector<double> all(static_cast<std::size_t>(offsets[nprocs - 1] + sizes[nprocs - 1]));
  MPI_Allgatherv(mine.data(), size, MPI_DOUBLE, all.data(), sizes.data(), offsets.data(),
                 MPI_DOUBLE, world);
  std::map<double, std::array<double, 3>> clusters;
  for (std::size_t k = 0; k < all.size(); k += 4) {
    auto inserted = clusters.emplace(all[k], std::array<double, 3>{0.0, all[k + 2], all[k + 3]});
    auto &cluster = inserted.first->second;
    cluster[0] += all[k + 1];
    cluster[1] = std::max(cluster[1], all[k + 2]);
    cluster[2] = std::min(cluster[2], all[k + 3]);
  }
  vector[CLUSTERS] = static_cast<double>(clusters.size());
  // the longest opening: the cluster that spans most along the axis, the crack or a void
  vector[LONGEST_OPENING] = 0.0;
  for (const auto &[label, cluster] : clusters)
    vector[LONGEST_OPENING] = std::max(vector[LONGEST_OPENING], cluster[1] - cluster[2]);

  FixCephaloBonds::Reference &ref = bonds->reference;
  if (clusters.empty()) {
    vector[TIP_X] = vector[TIP_Y] = vector[TIP_Z] = kNaN;
    vector[CRACK_LENGTH] = 0.0;
    ref.anchor = 0.0;
  } else {
    // Follow the crack found before: the cluster that now holds the atom that labelled it, or
    // else its last tip atom (a merged void makes it grow). A new crack is the largest
    // cluster; the map's order makes ties go to the lowest label on every rank.
    double followed[2] = {0.0, 0.0};
    if (ref.anchor > 0.0) {
      for (int i : crack_atoms) {
        if (static_cast<double>(tag[i]) == ref.anchor) followed[0] = cluster_label[i];
        if (static_cast<double>(tag[i]) == ref.tip_anchor) followed[1] = cluster_label[i];
      }
      MPI_Allreduce(MPI_IN_PLACE, followed, 2, MPI_DOUBLE, MPI_MAX, world);
    }
    auto crack = clusters.find(followed[0] > 0.0 ? followed[0] : followed[1]);
    if (crack == clusters.end()) {
      crack = clusters.begin();
      for (auto it = clusters.begin(); it != clusters.end(); ++it)
        if (it->second[0] > crack->second[0]) crack = it;
    }
    ref.anchor = crack->first;
    const double label = crack->first, front = crack->second[1], rear = crack->second[2];

    // tip: the crack's frontmost atom, ties to the lowest atom ID for every decomposition
    long long tip_tag = std::numeric_limits<long long>::max();
    for (int i : crack_atoms)
      if (cluster_label[i] == label && direction * x[i][axis] == front)
        tip_tag = std::min(tip_tag, static_cast<long long>(tag[i]));
    MPI_Allreduce(MPI_IN_PLACE, &tip_tag, 1, MPI_LONG_LONG, MPI_MIN, world);
    double tip[3] = {0.0, 0.0, 0.0};
    for (int i : crack_atoms)
      if (static_cast<long long>(tag[i]) == tip_tag) std::copy(x[i], x[i] + 3, tip);
    MPI_Allreduce(MPI_IN_PLACE, tip, 3, MPI_DOUBLE, MPI_SUM, world);
    vector[TIP_X] = tip[0];
    vector[TIP_Y] = tip[1];
    vector[TIP_Z] = tip[2];
    ref.tip_anchor = static_cast<double>(tip_tag);

    if (origin_first && !ref.origin_set) {
      ref.origin = rear;
      ref.origin_set = 1;
    }
    const double origin = origin_first ? ref.origin : direction * origin_value;
    vector[CRACK_LENGTH] = front - origin;
  }

  // speed between measurements at different times; a re-measurement at the same time keeps it
  const double now = current_time();
  if (!have_previous) {
    speed = 0.0;
  } else if (now != previous_time) {
    speed = (vector[CRACK_LENGTH] - previous_length) / (now - previous_time);
  }
  if (!have_previous || now != previous_time) {
    previous_time = now;
    previous_length = vector[CRACK_LENGTH];
    have_previous = true;
  }
  vector[CRACK_SPEED] = speed;
}

/* ---------------------------------------------------------------------- */

void ComputeCephaloCrack::measure_field_statistics()
{
  const int nlocal = atom->nlocal;
  const int *mask = atom->mask;

  for (int i = 0; i < nlocal; i++) peratom[i][1] = 0.0;
  if (stress.kind == Source::PERATOM) {
    double **tensor = stress.values->array();
    const double *per_atom_volume = nullptr;
    double constant_volume = bonds->reference.volume_per_atom;
    if (volume.kind == Source::CONSTANT)
      constant_volume = volume.constant;
    else if (volume.kind == Source::PERATOM)
      per_atom_volume = volume.values->values(igroup);

    values.clear();
    for (int i = 0; i < nlocal; i++) {
      if (!(mask[i] & groupbit)) continue;
      const double v = per_atom_volume ? per_atom_volume[i] : constant_volume;
      const double vm = cephalo::plugin::von_mises(tensor[i]) / v;
      peratom[i][1] = vm;
      values.push_back(vm);
    }
    store_stats(&vector[VM_MEAN], cephalo::plugin::summarize_field(values, world));
  } else {
    std::fill(&vector[VM_MEAN], &vector[VM_P95] + 1, kNaN);
  }

  if (energy.kind != Source::NONE) {
    const double *e = energy.values->values(igroup);
    values.clear();
    for (int i = 0; i < nlocal; i++)
      if (mask[i] & groupbit) values.push_back(e[i]);
    store_stats(&vector[PE_MEAN], cephalo::plugin::summarize_field(values, world));
  } else {
    std::fill(&vector[PE_MEAN], &vector[PE_P95] + 1, kNaN);
  }
}

/* ---------------------------------------------------------------------- */

double ComputeCephaloCrack::memory_usage()
{
  return static_cast<double>(nmax) * 7.0 * sizeof(double) +
         static_cast<double>(values.capacity()) * sizeof(double);
}
