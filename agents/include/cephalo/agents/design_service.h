// The agents' answer to a `design` request of the Cephalo protocol (bridge/PROTOCOL.md):
// cephalo-serve registers it as its design handler when agents/ is built.
#pragma once

#include "cephalo/bridge/server.h"

namespace cephalo::agents {

// Runs the design loop for the request (text, spec, or an image to describe first, with the text
// as a hint) and answers with the spec, the check report, the trace, and the mesh file (STL, one
// per body, or one 3MF) and the preview PNG as attachments. The model is reached as a client of
// the same server (context.model), so its requests queue and batch with everyone else's.
// Bad text or spec: error bad_request naming the field; no valid part: error no_part with the
// trace in the body.
bridge::Reply answer_design_request(const bridge::Request &request,
                                    const bridge::DesignContext &context);

}    // namespace cephalo::agents
