/* Placeholder until this source's /v1 API is on this server. */
"use strict";

WL.boot(async () => {
  WL.status("This source's API is not part of this build yet.");
});
