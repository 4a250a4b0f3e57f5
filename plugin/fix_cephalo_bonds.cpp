/* ----------------------------------------------------------------------
   Cephalo LAMMPS plugin: per-atom reference bonds of compute cephalo/crack.
------------------------------------------------------------------------- */

#include "fix_cephalo_bonds.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "memory.h"

#include <algorithm>
#include <cstring>

using namespace LAMMPS_NS;
using namespace FixConst;

FixCephaloBonds::FixCephaloBonds(LAMMPS *lmp, int narg, char **arg) :
    Fix(lmp, narg, arg), maxbond(1), nbond(nullptr), partner(nullptr), face(nullptr)
{
  if (narg != 3) error->all(FLERR, "Illegal fix {} command: it takes no arguments", style);

  restart_global = 1;
  restart_peratom = 1;
  create_attribute = 1;
  // the number of exchanged values per atom grows when the reference is taken
  maxexchange = 2 + maxbond;
  maxexchange_dynamic = 1;

  grow_arrays(atom->nmax);
  atom->add_callback(Atom::GROW);
  atom->add_callback(Atom::RESTART);
  for (int i = 0; i < atom->nmax; i++) nbond[i] = face[i] = 0;
}

FixCephaloBonds::~FixCephaloBonds()
{
  atom->delete_callback(id, Atom::GROW);
  atom->delete_callback(id, Atom::RESTART);
  memory->destroy(nbond);
  memory->destroy(partner);
  memory->destroy(face);
}

int FixCephaloBonds::setmask()
{
  return 0;
}

void FixCephaloBonds::set_capacity(int columns)
{
  columns = std::max(columns, 1);
  if (columns == maxbond && partner) return;
  const int nmax = atom->nmax;
  tagint **wider = nullptr;
  memory->create(wider, nmax, columns, "cephalo/crack:partner");
  const int keep = std::min(columns, maxbond);
  if (partner)
    for (int i = 0; i < nmax; i++) std::copy(partner[i], partner[i] + keep, wider[i]);
  memory->destroy(partner);
  partner = wider;
  maxbond = columns;
  maxexchange = 2 + maxbond;
}

void FixCephaloBonds::grow_arrays(int nmax)
{
  memory->grow(nbond, nmax, "cephalo/crack:nbond");
  memory->grow(partner, nmax, maxbond, "cephalo/crack:partner");
  memory->grow(face, nmax, "cephalo/crack:face");
}

void FixCephaloBonds::copy_arrays(int i, int j, int /*delflag*/)
{
  nbond[j] = nbond[i];
  face[j] = face[i];
  std::copy(partner[i], partner[i] + nbond[i], partner[j]);
}

void FixCephaloBonds::set_arrays(int i)
{
  nbond[i] = face[i] = 0;
}

int FixCephaloBonds::pack_exchange(int i, double *buf)
{
  int m = 0;
  buf[m++] = ubuf(nbond[i]).d;
  buf[m++] = ubuf(face[i]).d;
  for (int k = 0; k < nbond[i]; k++) buf[m++] = ubuf(partner[i][k]).d;
  return m;
}

int FixCephaloBonds::unpack_exchange(int nlocal, double *buf)
{
  int m = 0;
  nbond[nlocal] = static_cast<int>(ubuf(buf[m++]).i);
  face[nlocal] = static_cast<int>(ubuf(buf[m++]).i);
  for (int k = 0; k < nbond[nlocal]; k++)
    partner[nlocal][k] = static_cast<tagint>(ubuf(buf[m++]).i);
  return m;
}

void FixCephaloBonds::write_restart(FILE *fp)
{
  if (comm->me == 0) {
    const int size = sizeof(Reference) + sizeof(int);
    fwrite(&size, sizeof(int), 1, fp);
    fwrite(&maxbond, sizeof(int), 1, fp);
    fwrite(&reference, sizeof(Reference), 1, fp);
  }
}

void FixCephaloBonds::restart(char *buf)
{
  int columns = 0;
  memcpy(&columns, buf, sizeof(int));
  memcpy(&reference, buf + sizeof(int), sizeof(Reference));
  set_capacity(columns);
}

int FixCephaloBonds::pack_restart(int i, double *buf)
{
  // first value: how many values this fix stores for the atom, as LAMMPS expects; then the
  // bond count, the partners and the face flag (last, so that a restart file written before
  // the flag existed is still read: its atoms have one value fewer)
  int m = 1;
  buf[m++] = ubuf(nbond[i]).d;
  for (int k = 0; k < nbond[i]; k++) buf[m++] = ubuf(partner[i][k]).d;
  buf[m++] = ubuf(face[i]).d;
  buf[0] = m;
  return m;
}

void FixCephaloBonds::unpack_restart(int nlocal, int nth)
{
  double **extra = atom->extra;
  // skip to this fix's values among those of earlier fixes
  int m = 0;
  for (int i = 0; i < nth; i++) m += static_cast<int>(extra[nlocal][m]);
  const int stored = static_cast<int>(extra[nlocal][m]);
  m++;
  const int count = static_cast<int>(ubuf(extra[nlocal][m++]).i);
  if (count > maxbond)
    error->one(FLERR, "Restart file has {} bonds for an atom, fix {} expects at most {}", count,
               style, maxbond);
  nbond[nlocal] = count;
  for (int k = 0; k < count; k++)
    partner[nlocal][k] = static_cast<tagint>(ubuf(extra[nlocal][m++]).i);
  face[nlocal] = stored > 2 + count ? static_cast<int>(ubuf(extra[nlocal][m]).i) : 0;
}

int FixCephaloBonds::size_restart(int i)
{
  return 3 + nbond[i];
}

int FixCephaloBonds::maxsize_restart()
{
  return 3 + maxbond;
}

double FixCephaloBonds::memory_usage()
{
  return static_cast<double>(atom->nmax) * (2 * sizeof(int) + maxbond * sizeof(tagint));
}
