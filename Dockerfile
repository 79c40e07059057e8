# App image for the api, worker and consumer (docker-compose.yml picks the command).
# TypeScript runs through tsx (a runtime dependency); the one build step is the workflow bundle.
# Node 24 LTS, the newer of the two lines CI tests (20 and 24; see README, Node support).
FROM node:24.21.0-bookworm-slim

ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false

WORKDIR /app

# Dependencies first so source edits reuse this layer. Dev dependencies (tsc, eslint, vitest)
# are not needed at runtime; tsx is a regular dependency. `npm install --no-save` rather than
# `npm ci`: the lock file, made where only Linux builds of @swc/core are served, lists no other
# platforms' builds, which `npm ci` reports as out of sync. It still installs the locked versions.
COPY package.json package-lock.json ./
RUN npm install --omit=dev --no-save --no-audit --no-fund && npm cache clean --force

# Sources stay owned by root and read-only to the app user.
COPY . .

# Workers load the prebuilt workflow bundle instead of bundling at every start.
RUN npm run build:workflows
ENV WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js

# The base image ships an unprivileged "node" user (uid 1000).
USER node

EXPOSE 3000
CMD ["npm", "run", "api"]
