/* ----------------------------------------------------------------------
   Cephalo LAMMPS plugin: per-atom values named in a style's arguments.
------------------------------------------------------------------------- */

#include "peratom_source.h"

#include "atom.h"
#include "compute.h"
#include "error.h"
#include "input.h"
#include "memory.h"
#include "modify.h"
#include "variable.h"

#include "core/value_ref.h"

#include <stdexcept>

using namespace LAMMPS_NS;

CephaloPerAtomSource::CephaloPerAtomSource(LAMMPS *lmp, std::string owner_, std::string keyword_) :
    Pointers(lmp), kind(NONE), owner(std::move(owner_)), keyword(std::move(keyword_)), column(0),
    index(-1), nmax(0), buffer(nullptr)
{
}

CephaloPerAtomSource::~CephaloPerAtomSource()
{
  memory->destroy(buffer);
}

void CephaloPerAtomSource::parse(const char *value)
{
  cephalo::plugin::ValueRef ref;
  try {
    ref = cephalo::plugin::parse_value_ref(value, false);
  } catch (const std::invalid_argument &e) {
    error->all(FLERR, "{} keyword {}: {}", owner, keyword, e.what());
  }
  kind = ref.kind == cephalo::plugin::ValueRef::Kind::Compute ? COMPUTE : VARIABLE;
  id = ref.id;
  column = ref.column;
  written = value;
}

void CephaloPerAtomSource::resolve(int array_columns, const std::string &what)
{
  if (array_columns > 0 && (kind != COMPUTE || column != 0))
    error->all(FLERR, "{} keyword {} needs c_ID of a compute with {}, got {}", owner, keyword, what,
               written);
  if (kind == COMPUTE) {
    index = modify->find_compute(id);
    if (index < 0)
      error->all(FLERR, "Compute ID {} for {} keyword {} does not exist", id, owner, keyword);
    Compute *c = modify->compute[index];
    if (!c->peratom_flag)
      error->all(FLERR, "Compute {} (style {}) for {} keyword {} has no per-atom values", id,
                 c->style, owner, keyword);
    if (array_columns > 0) {
      if (c->size_peratom_cols < array_columns)
        error->all(FLERR, "Compute {} (style {}) for {} keyword {} must have {}; it has {}", id,
                   c->style, owner, keyword, what, c->size_peratom_cols);
      return;
    }
    if (column == 0 && c->size_peratom_cols != 0)
      error->all(FLERR,
                 "Compute {} for {} keyword {} is a per-atom array: name a column as c_{}[k] "
                 "with k in 1..{}",
                 id, owner, keyword, id, c->size_peratom_cols);
    if (column > 0 && c->size_peratom_cols == 0)
      error->all(FLERR, "Compute {} for {} keyword {} is a per-atom vector: write c_{} without [k]",
                 id, owner, keyword, id);
    if (column > c->size_peratom_cols)
      error->all(FLERR, "{} keyword {}: column {} of compute {} is out of range 1..{}", owner,
                 keyword, column, id, c->size_peratom_cols);
  } else if (kind == VARIABLE) {
    index = input->variable->find(id.c_str());
    if (index < 0)
      error->all(FLERR, "Variable {} for {} keyword {} does not exist", id, owner, keyword);
    if (!input->variable->atomstyle(index))
      error->all(FLERR, "Variable {} for {} keyword {} is not an atom-style variable", id, owner,
                 keyword);
  }
}

Compute *CephaloPerAtomSource::invoked()
{
  Compute *c = modify->compute[index];
  if (!(c->invoked_flag & Compute::INVOKED_PERATOM)) {
    c->compute_peratom();
    c->invoked_flag |= Compute::INVOKED_PERATOM;
  }
  return c;
}

double **CephaloPerAtomSource::array()
{
  return invoked()->array_atom;
}

const double *CephaloPerAtomSource::values(int igroup)
{
  if (atom->nmax > nmax) {
    nmax = atom->nmax;
    memory->destroy(buffer);
    memory->create(buffer, nmax, "cephalo:peratom_source");
  }
  if (kind == VARIABLE) {
    input->variable->compute_atom(index, igroup, buffer, 1, 0);
    return buffer;
  }
  if (column == 0) return invoked()->vector_atom;
  double **columns = array();
  for (int i = 0; i < atom->nlocal; i++) buffer[i] = columns[i][column - 1];
  return buffer;
}
