# App image for the api, worker and consumer (docker-compose.yml picks the command).
# TypeScript runs through tsx (a runtime dependency), so there is no build step.
FROM node:20.19.5-bookworm-slim

ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false

WORKDIR /app

# Dependencies first so source edits reuse this layer. Dev dependencies (tsc, eslint, vitest)
# are not needed at runtime; tsx is a regular dependency.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

# Sources stay owned by root and read-only to the app user.
COPY . .

# The base image ships an unprivileged "node" user (uid 1000).
USER node

EXPOSE 3000
CMD ["npm", "run", "api"]
